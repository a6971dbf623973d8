// The ack of an event that failed its category's schema (EVENT_SCHEMAS_DIR): stored in the
// quarantine log, so it counts as stored (a resend is answered "duplicate"); not to be retried.

export interface QuarantinedFrame {
  status: 'quarantined';
  server_timestamp: number;
  message_id: number;
  /** Resumable connections only. */
  seq?: number;
  /** The first 3 schema errors, "<JSON pointer> <message>". */
  errors: string[];
}

export function quarantinedReply(
  timestamp: string,
  messageId: number,
  seq: number | undefined,
  errors: string[],
): string {
  return (
    '{"status":"quarantined","server_timestamp":' +
    timestamp +
    ',"message_id":' +
    messageId +
    (seq === undefined ? '' : ',"seq":' + seq) +
    ',"errors":' +
    JSON.stringify(errors) +
    '}'
  );
}
