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
  /** The frame text exactly as received; valid JSON when messageId is not null. */
  text: string;
  /** The parsed frame (undefined when malformed): monitor filters read it, never parse again. */
  value: unknown;
}
