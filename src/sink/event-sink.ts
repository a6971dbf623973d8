// The durable handoff, whatever the engine: the ingest gateway, readiness and metrics see only this.
// SinkModule provides the engine SINK names (redis-stream: StreamSink, nats: NatsSink).
import type { WebSocket } from 'ws';
import type { StreamEvent } from '../stream/stream-event.js';

export abstract class EventSink {
  /** Whether acks wait for the log (SINK is not none). */
  abstract readonly enabled: boolean;
  /** Readiness: the log takes appends now. */
  abstract readonly healthy: boolean;
  /** Whether a new frame may be processed at all; when false it is answered "Service unavailable". */
  abstract readonly accepting: boolean;
  /** Appends that failed (their frames were answered "Service unavailable"). */
  abstract readonly errors: number;
  /** Queues a reply already decided, behind the replies still waiting on the log. */
  abstract reply(socket: WebSocket, reply: string, receivedAt: number): void;
  /** Appends a received event; its reply is written once the log has answered. */
  abstract append(socket: WebSocket, event: StreamEvent, receivedAt: number): void;
}
