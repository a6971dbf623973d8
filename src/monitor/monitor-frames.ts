// Every frame the server sends on /ws/monitor.
import type { StreamStats } from '../stream/stream.service.js';

export interface HelloFrame {
  type: 'hello';
  app: { name: string; version: string };
  flow_map: string;
}

/**
 * Sent as text built by splicing serialised events (see serializeEvent), never via JSON.stringify;
 * split into several frames past MONITOR_FRAME_MAX_BYTES. An event over MONITOR_EVENT_MAX_BYTES
 * carries "truncated": true and a "preview" (its first 200 characters) instead of "data".
 */
export interface EventsFrame {
  type: 'events';
  events: unknown[];
}

export interface StatsFrame extends StreamStats {
  type: 'stats';
  /** Events this monitor missed because its socket was over MONITOR_MAX_BUFFER_BYTES. */
  dropped: number;
  /** With Redis: this instance's own counts (the top-level counts are the cluster's). */
  instance?: StreamStats & { id: string };
}

export type MonitorFrame = HelloFrame | EventsFrame | StatsFrame;
