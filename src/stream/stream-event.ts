// What StreamService emits for every ingested frame. How clients and monitors see it on the wire
// is in src/protocol/ (EventRecord: the fields encodeEvent reads).
import type { EventRecord } from '../protocol/index.js';
import type { Route } from './flow-map.js';

export interface StreamEvent extends EventRecord {
  route: Route;
  /**
   * The parsed frame (undefined when malformed; the transformed data under a field policy):
   * monitor filters read it, never parse again.
   */
  value: unknown;
}
