// What StreamService emits for every ingested frame. How clients and monitors see it on the wire
// is in src/protocol/.
import type { Route } from './flow-map.js';

export interface StreamEvent {
  /** null for a malformed frame: it consumes no id. */
  messageId: number | null;
  clientId: string;
  /** Seconds since the epoch with millisecond precision, already formatted as JSON number text. */
  timestamp: string;
  route: Route;
  /** Frame size in bytes as received. */
  size: number;
  /**
   * The frame text exactly as received (as a field policy transformed it, if one applied); valid
   * JSON when messageId is not null.
   */
  text: string;
  /** Resumable connections only (undefined otherwise): the stream id and the frame's seq. */
  stream?: string;
  seq?: number;
  /** Events the client skipped before this one (seq - last - 1), when positive. */
  gap?: number;
  /** A resent frame at or below the stream's last seq: not stored, no message id. */
  duplicate?: boolean;
  /** The first frame decided on a connection that resumed a known stream (resume frame last_seq > 0). */
  resumed?: boolean;
  /** JWT mode: the verified `sub` of the connection (provenance, monitors). */
  sub?: string;
  /** The parsed frame (undefined when malformed): monitor filters read it, never parse again. */
  value: unknown;
  /**
   * With a field policy (EVENT_POLICY_FILE) that applied to it, `text` and `value` are the
   * transformed data, and this is what the rules did (JSON: dropped, hashed, rounded paths).
   */
  policyMarks?: string;
  /** With EVENT_SCHEMAS_DIR: the event failed its category's schema (first errors); stored in quarantine. */
  quarantine?: string[];
}
