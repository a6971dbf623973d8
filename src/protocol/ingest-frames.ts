// Every frame the server sends on the ingest socket: one per client frame, in frame order.
// The encoders build strings by concatenation: JSON.stringify costs more on the per-frame path.
// Types only from this folder: the SDK (client/) takes its wire types from here, without the service.

export const MALFORMED_JSON = 'Malformed JSON';
export const SERVICE_UNAVAILABLE = 'Service unavailable';
export const RATE_LIMIT_EXCEEDED = 'Rate limit exceeded';
/** The reply to a refused RefreshRequest (auth-frames.ts). */
export const INVALID_TOKEN = 'Invalid token';

/** A frame holding valid JSON, taken: `message_id` is unique and increasing. */
export interface AckFrame {
  status: 'received';
  /** Seconds since the epoch with millisecond precision. */
  server_timestamp: number;
  message_id: number;
}

export interface ErrorFrame {
  status: 'error';
  message:
    typeof MALFORMED_JSON | typeof SERVICE_UNAVAILABLE | typeof RATE_LIMIT_EXCEEDED | typeof INVALID_TOKEN;
}

export type IngestFrame = AckFrame | ErrorFrame;

function errorFrame(message: ErrorFrame['message']): string {
  return `{"status":"error","message":"${message}"}`;
}

export const MALFORMED_ACK = errorFrame(MALFORMED_JSON);
export const UNAVAILABLE_ACK = errorFrame(SERVICE_UNAVAILABLE);
export const RATE_LIMITED = errorFrame(RATE_LIMIT_EXCEEDED);

/** The reply to the frame behind `event`: an AckFrame, or the malformed-JSON ErrorFrame. */
export function encodeAck(event: { messageId: number | null; timestamp: string }): string {
  return event.messageId === null
    ? MALFORMED_ACK
    : '{"status":"received","server_timestamp":' + event.timestamp + ',"message_id":' + event.messageId + '}';
}
