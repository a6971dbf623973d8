// Every frame the server sends on the monitor socket: hello on connect, events batches, stats,
// refused stream claims. The monitor page checks its frames against these types (tsconfig.public.json),
// so this file uses no Node API: events frames are assembled in events-frames.ts.
import { MALFORMED_JSON } from './ingest-frames.js';

export const PREVIEW_CHARS = 200;

declare const FRAME: unique symbol;
/**
 * The text (or bytes) of a frame of type T, as an encoder here made it. The fan-out sends only
 * these, so a frame spliced outside protocol/ does not type-check. A type only: nothing at runtime.
 */
export type Encoded<T, Carrier = string> = Carrier & { readonly [FRAME]: T };

export interface HelloFrame {
  type: 'hello';
  app: { name: string; version: string };
  /**
   * When the instance this monitor is connected to started (ISO 8601). A monitor that sees it
   * change across a reconnect knows the service restarted: totals and message ids began again.
   */
  started_at: string;
  /** Where the page fetches the event flow map. */
  flow_map: string;
  /** The configured paths, so a page served elsewhere can still find the sockets. */
  endpoints: { ingest: string; monitor: string; flow_map: string };
  /** Events per flow-map node since start (see StatsFrame.nodes). */
  nodes: Record<string, number>;
  /**
   * The replay this monitor gets next: up to `events` events, from the whole cluster ("cluster",
   * with the Redis bus) or from this instance ("instance"); 0 when MONITOR_REPLAY=0.
   */
  replay: { events: number; scope: 'cluster' | 'instance' };
  /**
   * Only with a field policy or MONITOR_DATA other than full: what event data monitors get ("none":
   * events carry no data, preview or policy marks) and the policy's version.
   */
  privacy?: { monitor_data: 'full' | 'policy' | 'none'; policy_version?: string };
}

/** Under a field policy, on an event a rule applied to: the dotted paths it dropped, hashed, rounded. */
export interface PolicyMarks {
  dropped: string[];
  hashed: string[];
  rounded: string[];
}

interface MonitorEventBase {
  client_id: string;
  server_timestamp: number;
  /** Node ids from the source to where the event ended (ack or error). */
  path: string[];
  /** Frame size in bytes as received. */
  size: number;
  /** Resumable connections only: the stream id and the frame's seq. */
  stream?: string;
  seq?: number;
  /** Events the client skipped before this one, when positive (resumable connections). */
  gap?: number;
  /** JWT mode: the verified `sub` of the connection that sent it. */
  sub?: string;
  /**
   * Only on the first event of a connection that resumed a stream the service knew (its resume
   * frame had last_seq > 0): each such connection is one of the stats frame's `resumes`.
   */
  resumed?: true;
}

export interface ReceivedEvent extends MonitorEventBase {
  message_id: number;
  /** quarantined: it failed its category's schema (EVENT_SCHEMAS_DIR) and is in the quarantine log. */
  status: 'received' | 'quarantined';
  /** Quarantined events: the first schema errors. */
  errors?: string[];
  category: string;
  /** The client's JSON as sent, or as a field policy transformed it (absent when truncated, or with MONITOR_DATA=none). */
  data?: unknown;
  /** Set when the frame was larger than MONITOR_EVENT_MAX_BYTES: monitors get `preview` instead of `data`. */
  truncated?: true;
  preview?: string;
  /** Under a field policy, when a rule applied: what it did (the page marks those fields). */
  policy?: PolicyMarks;
}

export interface MalformedEvent extends MonitorEventBase {
  message_id: null;
  status: 'error';
  category: null;
  error: typeof MALFORMED_JSON;
  /** The first PREVIEW_CHARS characters of the frame ('' under a field policy; absent with MONITOR_DATA=none). */
  preview?: string;
}

/** A resent frame at or below its stream's last seq (resumable connections): not stored again. */
export interface DuplicateEvent extends MonitorEventBase {
  message_id: null;
  status: 'duplicate';
  category: string;
  stream: string;
  seq: number;
  /** The client's JSON as sent (as a field policy transformed it; absent with MONITOR_DATA=none). */
  data?: unknown;
  policy?: PolicyMarks;
}

export type MonitorEvent = ReceivedEvent | MalformedEvent | DuplicateEvent;

/**
 * Sent as text spliced from encodeEvent's output (events-frames.ts), never via JSON.stringify;
 * split into several frames past MONITOR_FRAME_MAX_BYTES. An event over
 * MONITOR_EVENT_MAX_BYTES carries "truncated": true and a "preview" (its first 200 characters)
 * instead of "data".
 */
export interface EventsFrame {
  type: 'events';
  /**
   * Only on the replay right after hello: events from before this monitor connected (one frame,
   * unless it is over MONITOR_FRAME_MAX_BYTES).
   */
  replay?: true;
  /** Only for a monitor that asked for ?sample=N: how many events this frame's sample stands for. */
  sampled_from?: number;
  events: MonitorEvent[];
}

/** An instance's counters: the stats frame's top level (the cluster's, with Redis) and its `instance`. */
export interface StreamStats {
  active_connections: number;
  active_monitors: number;
  total_messages: number;
  total_errors: number;
  messages_per_second: number;
  /** Resumable streams: frames answered "duplicate", and events reported missing (sum of gaps). */
  total_duplicates: number;
  total_gaps: number;
  /** Resumable connections that picked up a stream the service knew (resume frame with last_seq > 0). */
  resumes: number;
}

/** Counts for the instances strip: one entry per live instance. */
export interface InstanceSummary {
  id: string;
  active_connections: number;
  total_messages: number;
  messages_per_second: number;
}

/**
 * StreamStats carries, besides the connection and message counts, the integrity counters of
 * resumable streams: total_duplicates, total_gaps (events reported missing) and resumes.
 */
export interface StatsFrame extends StreamStats {
  type: 'stats';
  /** Events this monitor missed because its socket was over MONITOR_MAX_BUFFER_BYTES. */
  dropped: number;
  /**
   * Resumable streams this instance's in-memory state forgot within their TTL to stay within
   * STREAM_STATE_MAX or STREAM_STATE_MAX_BYTES: their old seqs would be accepted again. 0 with Redis
   * or NATS, which keep the state.
   */
  state_evictions: number;
  /** With Redis: this instance's own counts (the top-level counts are the cluster's). */
  instance?: StreamStats & { id: string };
  /** With Redis: every live instance, sorted by id. */
  instances?: InstanceSummary[];
  /**
   * Events per flow-map node id since the service started (with Redis: since the cluster's first
   * instance started), exact whatever this monitor was sent. With EVENT_SCHEMAS_DIR it also holds
   * QUARANTINE_NODE: the events quarantined (they count on their route's nodes too).
   */
  nodes: Record<string, number>;
}

/** The `nodes` key of quarantined events: not a flow-map node; the page draws it beside "ack". */
export const QUARANTINE_NODE = 'quarantine';

/** Why an ingest upgrade (or a token refresh) was refused: cbsa_auth_refused_total{reason}. */
export type RefusalReason = 'missing' | 'invalid' | 'expired' | 'wrong_stream' | 'too_many';

/** A refused claim on a stream: who claimed it (a verified `sub`, or null), why, and when. No token text. */
export interface RefusedClaim {
  stream: string;
  /** The verified subject that made the claim; null when the token was missing or did not verify. */
  sub: string | null;
  reason: RefusalReason;
  /** Seconds since the epoch. */
  at: number;
}

/**
 * Refused stream claims on this instance since the last such frame (at most one a second, at most
 * 20 claims a second: the rest are only counted in cbsa_auth_refused_total).
 */
export interface AuthRefusedFrame {
  type: 'auth_refused';
  claims: RefusedClaim[];
}

/** Every frame the server sends on the monitor socket. */
export type MonitorFrame = HelloFrame | EventsFrame | StatsFrame | AuthRefusedFrame;

export function encodeAuthRefused(claims: RefusedClaim[]): Encoded<AuthRefusedFrame> {
  const frame: AuthRefusedFrame = { type: 'auth_refused', claims };
  return JSON.stringify(frame) as Encoded<AuthRefusedFrame>;
}

export function encodeHello(frame: Omit<HelloFrame, 'type'>): Encoded<HelloFrame> {
  const hello: HelloFrame = { type: 'hello', ...frame };
  return JSON.stringify(hello) as Encoded<HelloFrame>;
}

export function encodeStats(frame: Omit<StatsFrame, 'type'>): Encoded<StatsFrame> {
  const stats: StatsFrame = { type: 'stats', ...frame };
  return JSON.stringify(stats) as Encoded<StatsFrame>;
}

/** What encodeEvent reads of an ingested frame: the service's StreamEvent extends it. */
export interface EventRecord {
  /** null for a malformed frame or a duplicate: it consumes no id. */
  messageId: number | null;
  clientId: string;
  /** Seconds since the epoch with millisecond precision, already formatted as JSON number text. */
  timestamp: string;
  /** `pathJson`: the route's node ids as JSON text, encoded once per route. */
  route: { pathJson: string; category: string | null };
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
  /**
   * With a field policy (EVENT_POLICY_FILE) that applied to it, `text` is the transformed data, and
   * this is what the rules did (JSON: dropped, hashed, rounded paths).
   */
  policyMarks?: string;
  /** With EVENT_SCHEMAS_DIR: the event failed its category's schema (first errors); stored in quarantine. */
  quarantine?: string[];
}

/**
 * One MonitorEvent as JSON, splicing the client's raw text. Client data is never re-serialised:
 * JSON.stringify recurses and throws on deeply nested input (and is slower).
 */
export function encodeEvent(
  event: EventRecord,
  maxDataBytes = Infinity,
  showData = true,
): Encoded<MonitorEvent> {
  const head =
    '{"message_id":' +
    event.messageId +
    ',"client_id":"' +
    event.clientId +
    '","status":"' +
    (event.messageId !== null
      ? event.quarantine === undefined
        ? 'received'
        : 'quarantined'
      : event.duplicate === true
        ? 'duplicate'
        : 'error') +
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
      : ',"stream":"' +
        event.stream +
        '","seq":' +
        event.seq +
        (event.gap ? ',"gap":' + event.gap : '') +
        (event.resumed === true ? ',"resumed":true' : '')) +
    // A subject is of the stream-id alphabet: nothing to escape.
    (event.sub ? ',"sub":"' + event.sub + '"' : '');
  // MONITOR_DATA=none: traversal, counts, stream and seq only; nothing the client sent.
  if (!showData)
    return (head +
      (event.messageId === null && event.duplicate !== true
        ? ',"error":"' + MALFORMED_JSON + '"}'
        : '}')) as Encoded<MonitorEvent>;
  if (event.messageId === null && event.duplicate !== true) {
    return (head +
      ',"error":"' +
      MALFORMED_JSON +
      '","preview":' +
      JSON.stringify(event.text.slice(0, PREVIEW_CHARS)) +
      '}') as Encoded<MonitorEvent>;
  }
  if (event.size > maxDataBytes) {
    // MONITOR_EVENT_MAX_BYTES: monitors get a preview; ingest and the sink keep the whole frame.
    return (head +
      ',"truncated":true,"preview":' +
      JSON.stringify(event.text.slice(0, PREVIEW_CHARS)) +
      (event.policyMarks === undefined ? '' : ',"policy":' + event.policyMarks) +
      '}') as Encoded<MonitorEvent>;
  }
  const marks = event.policyMarks === undefined ? '' : ',"policy":' + event.policyMarks;
  const errors =
    event.quarantine === undefined || event.messageId === null
      ? ''
      : ',"errors":' + JSON.stringify(event.quarantine);
  return (head + ',"data":' + event.text + marks + errors + '}') as Encoded<MonitorEvent>;
}
