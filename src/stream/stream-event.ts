// What StreamService emits for every ingested frame, and how a monitor sees it on the wire.
import type { Route } from './flow-map.js';

export const MALFORMED_JSON = 'Malformed JSON';
export const MALFORMED_ACK = `{"status":"error","message":"${MALFORMED_JSON}"}`;
export const UNAVAILABLE_ACK = '{"status":"error","message":"Service unavailable"}';
export const PREVIEW_CHARS = 200;

export interface StreamEvent {
  /** null for a malformed frame: it consumes no id. */
  messageId: number | null;
  clientId: string;
  /** Seconds since the epoch with millisecond precision, already formatted as JSON number text. */
  timestamp: string;
  route: Route;
  /** Frame size in bytes as received. */
  size: number;
  /** The frame text exactly as received; valid JSON when messageId is not null. */
  text: string;
  /** Resumable connections only (undefined otherwise): the stream id and the frame's seq. */
  stream?: string;
  seq?: number;
  /** Events the client skipped before this one (seq - last - 1), when positive. */
  gap?: number;
  /** A resent frame at or below the stream's last seq: not stored, no message id. */
  duplicate?: boolean;
}

/** The reply to the frame behind `event`, built as a string: JSON.stringify costs more per frame. */
export function ackFor(event: StreamEvent): string {
  return event.messageId === null
    ? MALFORMED_ACK
    : '{"status":"received","server_timestamp":' + event.timestamp + ',"message_id":' + event.messageId + '}';
}

/**
 * Builds the monitor JSON for one event by splicing the client's raw text. Client data is never
 * re-serialised: JSON.stringify recurses and throws on deeply nested input (and is slower).
 */
export function serializeEvent(event: StreamEvent): string {
  const head =
    '{"message_id":' +
    event.messageId +
    ',"client_id":"' +
    event.clientId +
    '","status":"' +
    (event.messageId !== null ? 'received' : event.duplicate === true ? 'duplicate' : 'error') +
    '","server_timestamp":' +
    event.timestamp +
    ',"path":' +
    event.route.pathJson +
    ',"category":' +
    (event.route.category === null ? 'null' : '"' + event.route.category + '"') +
    ',"size":' +
    event.size +
    (event.stream === undefined
      ? ''
      : ',"stream":"' + event.stream + '","seq":' + event.seq + (event.gap ? ',"gap":' + event.gap : ''));
  if (event.messageId === null && event.duplicate !== true) {
    return (
      head +
      ',"error":"' +
      MALFORMED_JSON +
      '","preview":' +
      JSON.stringify(event.text.slice(0, PREVIEW_CHARS)) +
      '}'
    );
  }
  return head + ',"data":' + event.text + '}';
}
