// Owns what every frame passes through: counters, classification onto the flow map, and events$,
// which the monitor fan-out subscribes to while anyone needs the events. Message ids come from
// IdSource and are handed out by the frame pipeline (src/ingest/frame-pipeline.ts) alone.
import { Injectable, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventPolicy } from '../privacy/event-policy.service.js';
import { EventSchemas } from '../privacy/event-schemas.js';
import { QUARANTINE_NODE, type StreamStats } from '../protocol/index.js';
import { type Observable, Subject } from 'rxjs';
import { FlowMap } from './flow-map.js';
import { IdSource } from './id-source.js';
import type { StreamEvent } from './stream-event.js';
const SUMMARY_EVERY_TICKS = 10;
const FIRST_LEASE_WAIT_MS = 5000;

/** The counters' wire form is the stats frame's (protocol/); re-exported for the services that read them. */
export type { StreamStats };

/** What parse() returns for a frame that is not JSON (already counted, emitted and to be answered). */
export const MALFORMED = Symbol('malformed');

function idField(obj: unknown, key: string): string | number | undefined {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || !Object.hasOwn(obj, key)) {
    return undefined;
  }
  const value = (obj as Record<string, unknown>)[key];
  return typeof value === 'string' || typeof value === 'number' ? value : undefined;
}

@Injectable()
export class StreamService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly subject = new Subject<StreamEvent>();
  /**
   * Every ingested frame once decided: received (stored, in sink mode), duplicate or malformed.
   * Emitted only while subscribed (Subject.observed).
   */
  readonly events$: Observable<StreamEvent> = this.subject.asObservable();

  private totalMessages = 0;
  private rateLimited = 0;
  private unavailable = 0;
  private totalErrors = 0;
  private activeConnections = 0;
  private activeMonitors = 0;
  private messagesPerSecond = 0;
  private totalDuplicates = 0;
  private totalGaps = 0;
  private resumes = 0;
  private invalidSeq = 0;

  private lastMs = 0;
  private lastTimestamp = '0.000';

  private ticker?: NodeJS.Timeout;
  private ticks = 0;
  private countedAtTick = 0;
  private summaryFrom = { messages: 0, errors: 0 };
  private readonly debug: boolean;
  /** The field policy (EVENT_POLICY_FILE), applied to every event as it is classified. */
  private readonly policy: EventPolicy;
  /** The quarantine schemas (EVENT_SCHEMAS_DIR), checked on the event as sent, before the policy. */
  private readonly schemas: EventSchemas;
  /** Events per flow-map route since start, indexed by Route.index: one increment per event. */
  private readonly routeCounts: number[];

  constructor(
    private readonly flowMap: FlowMap,
    private readonly ids: IdSource,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
    @Optional() policy?: EventPolicy,
    @Optional() schemas?: EventSchemas,
  ) {
    this.policy = policy ?? new EventPolicy(undefined);
    this.schemas = schemas ?? new EventSchemas();
    logger.setContext(StreamService.name);
    this.debug = logger.logger.isLevelEnabled('debug');
    this.routeCounts = flowMap.routes.map(() => 0);
    metrics.counter(
      'cbsa_frames_total',
      'Ingest frames by outcome: received (acked), malformed, rate_limited, unavailable, duplicate, invalid_seq',
      () => this.frameCounts(),
      'status',
    );
    metrics.gauge(
      'cbsa_active_connections',
      'Open ingest sockets on this instance',
      () => this.activeConnections,
    );
    metrics.gauge('cbsa_active_monitors', 'Open monitor sockets on this instance', () => this.activeMonitors);
    metrics.counter(
      'cbsa_stream_gaps_total',
      'Events resumable clients skipped (sum of seq gaps reported)',
      () => this.totalGaps,
    );
    metrics.counter(
      'cbsa_stream_duplicates_total',
      'Frames of resumable streams answered "duplicate" (already accepted; not stored again)',
      () => this.totalDuplicates,
    );
    metrics.counter(
      'cbsa_stream_resumes_total',
      'Resumable connections that picked up a known stream (resume frame with last_seq > 0)',
      () => this.resumes,
    );
  }

  onModuleInit(): void {
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
  }

  /** With Redis: the first id block is leased before the port opens, so a burst is never refused. */
  async onApplicationBootstrap(): Promise<void> {
    await this.ids.whenReady(FIRST_LEASE_WAIT_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.ticker);
    this.subject.complete();
  }

  /**
   * The seed hot path, after parse() and the message id: count, classify, emit. Returns the event,
   * whose ack is encodeAck(event). Nothing here serialises client data, and nothing is logged
   * unless debug is on.
   */
  received(
    text: string,
    size: number,
    clientId: string,
    value: unknown,
    messageId: number,
    sub?: string,
  ): StreamEvent {
    const timestamp = this.timestamp();
    this.totalMessages++;
    const route = this.flowMap.classify(value);
    this.routeCounts[route.index]++;
    const event: StreamEvent = { messageId, clientId, timestamp, route, size, text, sub, value };
    this.policy.apply(event);
    if (this.subject.observed) this.subject.next(event);
    if (this.debug) this.logReceived(messageId, clientId, event.value);
    return event;
  }

  /** Parses once; a malformed frame is counted and emitted here, and MALFORMED returned. */
  parse(text: string, size: number, clientId: string, sub?: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      this.totalErrors++;
      this.routeCounts[this.flowMap.errorRoute.index]++;
      const malformed: StreamEvent = {
        messageId: null,
        clientId,
        timestamp: this.timestamp(),
        route: this.flowMap.errorRoute,
        size,
        // Under a field policy nothing of a frame the policy cannot read reaches a monitor.
        text: this.policy.enabled ? '' : text,
        sub,
        value: undefined,
      };
      // With nobody subscribed the hot path skips RxJS entirely; keep this check.
      if (this.subject.observed) this.subject.next(malformed);
      if (this.debug)
        this.logger.debug({ client_id: clientId, size }, 'Malformed frame from client %s', clientId);
      return MALFORMED;
    }
  }

  /**
   * A frame of a resumable stream, not yet decided: classified, stamped, no id. It becomes received
   * (accept) or duplicate (duplicate) once its seq is checked, in sink mode after the append.
   * `resumed` marks the first frame of a connection that resumed a known stream (see resumed()).
   */
  pending(
    text: string,
    size: number,
    clientId: string,
    value: unknown,
    stream: string,
    seq: number,
    resumed = false,
    sub?: string,
  ): StreamEvent {
    return {
      ...this.unnumbered(text, size, clientId, value, sub),
      stream,
      seq,
      gap: 0,
      duplicate: false,
      resumed,
    };
  }

  /** A frame without a stream id, held for the sink: classified, stamped, id assigned at append time. */
  unnumbered(text: string, size: number, clientId: string, value: unknown, sub?: string): StreamEvent {
    const event: StreamEvent = {
      messageId: null,
      clientId,
      timestamp: this.timestamp(),
      route: this.flowMap.classify(value),
      size,
      text,
      sub,
      value,
    };
    if (this.schemas.enabled) {
      const errors = this.schemas.check(value, event.route.category);
      if (errors !== undefined) event.quarantine = errors;
    }
    this.policy.apply(event);
    return event;
  }

  /** Counts and fans out an event that was accepted (stored, in sink mode): it has its message id. */
  accepted(event: StreamEvent): void {
    this.totalMessages++;
    if (event.quarantine !== undefined) this.schemas.quarantined++;
    this.routeCounts[event.route.index]++;
    if (event.gap) this.totalGaps += event.gap;
    if (this.subject.observed) this.subject.next(event);
  }

  /** Counts and fans out a frame answered "duplicate". */
  duplicated(event: StreamEvent): void {
    this.totalDuplicates++;
    event.duplicate = true;
    if (this.subject.observed) this.subject.next(event);
  }

  /**
   * A resumable connection got its resume frame. Only a stream the service already knew (last_seq
   * above 0) counts as a resume; a first connection, or one to a forgotten stream, starts it afresh.
   * Returns whether it counted, so the connection's first event can carry the mark for monitors.
   */
  resumed(lastSeq: number): boolean {
    if (lastSeq <= 0) return false;
    this.resumes++;
    return true;
  }

  /** A frame on a resumable connection without a valid seq ("Invalid seq"). */
  countInvalidSeq(): void {
    this.invalidSeq++;
  }

  /** A frame refused by the per-connection rate limit: not counted as a message, not forwarded. */
  countRateLimited(): void {
    this.rateLimited++;
  }

  /** A frame refused because the service could not take it (no id yet, or the sink is down). */
  countUnavailable(): void {
    this.unavailable++;
  }

  /** Frames by outcome, for /metrics. */
  frameCounts(): Record<
    'received' | 'malformed' | 'rate_limited' | 'unavailable' | 'duplicate' | 'invalid_seq',
    number
  > {
    return {
      received: this.totalMessages,
      malformed: this.totalErrors,
      rate_limited: this.rateLimited,
      unavailable: this.unavailable,
      duplicate: this.totalDuplicates,
      invalid_seq: this.invalidSeq,
    };
  }

  connectionOpened(): void {
    this.activeConnections++;
  }

  connectionClosed(): void {
    this.activeConnections--;
  }

  monitorOpened(): void {
    this.activeMonitors++;
  }

  monitorClosed(): void {
    this.activeMonitors--;
  }

  stats(): StreamStats {
    return {
      active_connections: this.activeConnections,
      active_monitors: this.activeMonitors,
      total_messages: this.totalMessages,
      total_errors: this.totalErrors,
      messages_per_second: this.messagesPerSecond,
      total_duplicates: this.totalDuplicates,
      total_gaps: this.totalGaps,
      resumes: this.resumes,
    };
  }

  /**
   * Events that passed each flow-map node since this process started, summed from the per-route
   * counters (computed once a second for stats, never per event); with EVENT_SCHEMAS_DIR also the
   * events quarantined, under QUARANTINE_NODE.
   */
  nodeCounts(): Record<string, number> {
    const nodes: Record<string, number> = {};
    for (const node of this.flowMap.document.nodes) nodes[node.id] = 0;
    for (const route of this.flowMap.routes) {
      const count = this.routeCounts[route.index];
      if (count === 0) continue;
      for (const id of route.path) nodes[id] += count;
    }
    // Quarantined events also passed their route (they are acked); the page draws this extra node
    // as a branch beside "ack" when the count is present, i.e. with EVENT_SCHEMAS_DIR.
    if (this.schemas.enabled) nodes[QUARANTINE_NODE] = this.schemas.quarantined;
    return nodes;
  }

  /** Seconds since the epoch with ms precision, formatted once per millisecond rather than per frame. */
  timestamp(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastTimestamp = (ms / 1000).toFixed(3);
    }
    return this.lastTimestamp;
  }

  private logReceived(messageId: number, clientId: string, value: unknown): void {
    const user = idField(value, 'user_id');
    const session = idField(value, 'session_id');
    this.logger.debug(
      { message_id: messageId, user_id: user, session_id: session, client_id: clientId },
      'Received message #%d from user %s (session: %s, client: %s)',
      messageId,
      user ?? 'unknown',
      session ?? 'none',
      clientId,
    );
  }

  private tick(): void {
    this.messagesPerSecond = this.totalMessages - this.countedAtTick;
    this.countedAtTick = this.totalMessages;
    if (++this.ticks % SUMMARY_EVERY_TICKS !== 0) return;
    const messages = this.totalMessages - this.summaryFrom.messages;
    const errors = this.totalErrors - this.summaryFrom.errors;
    this.summaryFrom = { messages: this.totalMessages, errors: this.totalErrors };
    if (messages === 0 && errors === 0) return;
    this.logger.info(
      {
        messages,
        errors,
        messages_per_second: Math.round((messages / SUMMARY_EVERY_TICKS) * 10) / 10,
        clients: this.activeConnections,
      },
      'Last %ds: %d messages, %d errors, %d clients',
      SUMMARY_EVERY_TICKS,
      messages,
      errors,
      this.activeConnections,
    );
  }
}
