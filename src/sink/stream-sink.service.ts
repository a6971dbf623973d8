// The ack queue in front of the durable log. With SINK=redis-stream every frame's reply goes
// through it (so replies stay in frame order), and a received event is counted, fanned out and
// acked only after its append succeeded. With Redis but no sink, resumable connections use it too:
// their seq check lives in Redis (state only, no log). Engines implement DurableSink.
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { UNAVAILABLE_ACK, duplicateReply, encodeAck, receivedWithSeq } from '../protocol/index.js';
import { RedisService } from '../redis/redis.service.js';
import type { StreamEvent } from '../stream/stream-event.js';
import { cork } from '../ws/cork.js';
import { StreamService } from '../stream/stream.service.js';
import { type Conn, blockedReply, refuse } from './connection.js';
import { DUPLICATE, DurableSink, FAILED, type SinkEntry } from './durable-sink.js';

const MAX_BATCH = 2000;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** After a failed append, readiness stays 503 this long unless an append succeeds first. */
const FAILURE_HOLD_MS = 2000;

interface Pending {
  conn: Conn;
  /** A reply decided already (errors, refusals), or the event whose append decides the reply. */
  reply: string | undefined;
  event: StreamEvent | undefined;
  /** A rate-limit refusal of this seq: later frames are refused until it comes again. */
  refusedSeq: number;
  bytes: number;
  receivedAt: number;
}

@Injectable()
export class StreamSink implements OnModuleDestroy {
  /** SINK=redis-stream: every frame is appended before its ack. */
  readonly enabled: boolean;
  /** Whether resumable connections go through this queue (any Redis, or a sink). */
  readonly queued: boolean;
  private queue: Pending[] = [];
  private queuedBytes = 0;
  /** The batch being appended: its oldest frame's arrival, for readiness. */
  private inFlightSince: number | undefined;
  private busy = false;
  private failures = 0;
  private lastFailureAt = 0;
  private failing = false;
  private stopping = false;
  private readonly paused = new Set<Conn>();
  private readonly conns = new WeakMap<WebSocket, Conn>();
  private idle: (() => void)[] = [];

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly durable: DurableSink,
    private readonly stream: StreamService,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
    redis: RedisService,
  ) {
    logger.setContext(StreamSink.name);
    this.enabled = cfg.sink !== 'none';
    this.queued = this.enabled || redis.enabled;
    metrics.counter(
      'cbsa_sink_errors_total',
      'Stream appends that failed (their frames were answered "Service unavailable")',
      () => this.failures,
    );
    metrics.gauge(
      'cbsa_sink_queue_depth',
      'Frames waiting for their append (SINK=redis-stream)',
      () => this.queue.length,
    );
  }

  /** Frames waiting for their append (including the batch in flight). */
  get depth(): number {
    return this.queue.length;
  }

  /**
   * Readiness: false while the oldest pending append is older than SINK_READY_MAX_AGE_MS, while the
   * engine is disconnected, or shortly after a failed append. Recovers by itself.
   */
  get healthy(): boolean {
    if (!this.enabled) return true;
    const now = performance.now();
    const oldest = this.inFlightSince ?? this.queue[0]?.receivedAt;
    if (oldest !== undefined && now - oldest > this.cfg.sinkReadyMaxAgeMs) return false;
    if (this.failing && now - this.lastFailureAt < FAILURE_HOLD_MS) return false;
    return this.durable.ready;
  }

  /** Draining for shutdown: new frames get no reply and are not stored. */
  get draining(): boolean {
    return this.stopping;
  }

  /** Whether the engine can be asked (for the resume frame). */
  get ready(): boolean {
    return this.durable.ready;
  }

  lastSeq(stream: string): Promise<number> {
    return this.durable.lastSeq(stream);
  }

  /** A reply decided at arrival (malformed, invalid seq, refusal), queued behind earlier replies. */
  reply(conn: Conn, reply: string, receivedAt: number, refusedSeq = 0): void {
    this.push({ conn, reply, event: undefined, refusedSeq, bytes: 0, receivedAt });
  }

  /** A received event: appended (and its seq checked), then acked. */
  append(conn: Conn, event: StreamEvent, receivedAt: number): void {
    this.push({ conn, reply: undefined, event, refusedSeq: 0, bytes: event.size, receivedAt });
  }

  /** Closes the socket once its pending replies are written (ws drops sends on a closing socket). */
  closeWhenSettled(conn: Conn, code: number, reason: string): void {
    conn.closing = true;
    const close = () => {
      if (conn.socket.readyState === WebSocket.OPEN) conn.socket.close(code, reason);
    };
    if (conn.pending === 0) return close();
    const before = conn.onSettled;
    conn.onSettled = () => {
      before?.();
      close();
    };
  }

  /** Registers an ingest connection, so server-side closes can wait for its pending replies. */
  track(conn: Conn): void {
    this.conns.set(conn.socket, conn);
  }

  /** The connection of a tracked ingest socket. */
  connOf(socket: WebSocket): Conn | undefined {
    return this.conns.get(socket);
  }

  /** For the adapter: resolves once the socket's pending replies are written (at once if none). */
  whenSocketSettled(socket: WebSocket): Promise<void> {
    const conn = this.conns.get(socket);
    return conn === undefined ? Promise.resolve() : this.settled(conn);
  }

  /** Resolves once the connection has no pending replies. */
  settled(conn: Conn): Promise<void> {
    if (conn.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = conn.onSettled;
      conn.onSettled = () => {
        before?.();
        resolve();
      };
    });
  }

  /** Shutdown: stop taking frames, then append and answer everything already queued. */
  async onModuleDestroy(): Promise<void> {
    await this.drain(this.cfg.shutdownTimeoutMs);
  }

  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (!this.busy && this.queue.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private push(item: Pending): void {
    this.queue.push(item);
    this.queuedBytes += item.bytes;
    item.conn.pending++;
    // Past the bound, stop reading this socket: TCP pushes back on the client, nothing is refused.
    if (this.queue.length > this.cfg.sinkQueueMax || this.queuedBytes > this.cfg.sinkQueueMaxBytes) {
      if (!this.paused.has(item.conn)) {
        this.paused.add(item.conn);
        item.conn.socket.pause();
      }
    }
    if (this.busy) return;
    this.busy = true;
    setImmediate(() => void this.run());
  }

  /** One batch at a time, so replies leave in the order frames arrived. */
  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && count < MAX_BATCH && bytes < MAX_BATCH_BYTES) {
        bytes += this.queue[count++].bytes;
      }
      const batch = this.queue.splice(0, count);
      this.inFlightSince = batch[0].receivedAt;
      try {
        await this.process(batch);
      } catch (err) {
        this.logger.error({ err }, 'Sink batch failed unexpectedly');
      }
      this.queuedBytes -= bytes;
      this.inFlightSince = undefined;
      this.resumePaused();
    }
    this.busy = false;
    const idle = this.idle;
    this.idle = [];
    idle.forEach((resolve) => resolve());
  }

  private async process(batch: Pending[]): Promise<void> {
    // In frame order: refusals block later seqs, blocked frames are refused, the rest get ids.
    const entries: SinkEntry[] = [];
    const appended: Pending[] = [];
    for (const item of batch) {
      const event = item.event;
      if (event === undefined) {
        if (item.refusedSeq > 0) refuse(item.conn, item.refusedSeq, item.reply!);
        continue;
      }
      if (event.stream !== undefined) {
        const blocked = blockedReply(item.conn, event.seq!);
        if (blocked !== undefined) {
          item.reply = blocked;
          if (blocked === UNAVAILABLE_ACK) this.stream.countUnavailable();
          else this.stream.countRateLimited();
          continue;
        }
      }
      let id = this.stream.nextId();
      if (id === undefined && (await this.stream.idsReady(this.cfg.redisCommandTimeoutMs))) {
        id = this.stream.nextId();
      }
      if (id === undefined) {
        item.reply = UNAVAILABLE_ACK;
        this.stream.countUnavailable();
        if (event.stream !== undefined) refuse(item.conn, event.seq!, UNAVAILABLE_ACK);
        continue;
      }
      event.messageId = id;
      appended.push(item);
      entries.push({
        stream: event.stream ?? '',
        seq: event.seq ?? 0,
        messageId: id,
        clientId: event.clientId,
        timestamp: event.timestamp,
        category: event.route.category ?? '',
        data: event.text,
      });
    }
    if (entries.length > 0) {
      const outcomes = this.durable.ready
        ? await this.durable.append(entries, this.enabled)
        : entries.map(() => FAILED);
      let failed = 0;
      appended.forEach((item, i) => {
        const event = item.event!;
        const outcome = outcomes[i] ?? FAILED;
        if (outcome >= 0) {
          if (event.stream === undefined) {
            item.reply = encodeAck(event);
          } else {
            event.gap = event.seq! - outcome - 1;
            item.reply = receivedWithSeq(event.timestamp, event.messageId!, event.seq!);
          }
          this.stream.accepted(event);
          this.metrics.ackLatency.observe((performance.now() - item.receivedAt) / 1000);
        } else if (outcome === DUPLICATE) {
          event.messageId = null;
          item.reply = duplicateReply(event.timestamp, event.seq!);
          this.stream.duplicated(event);
        } else {
          failed++;
          event.messageId = null;
          item.reply = UNAVAILABLE_ACK;
          this.stream.countUnavailable();
          if (event.stream !== undefined) refuse(item.conn, event.seq!, UNAVAILABLE_ACK);
        }
      });
      this.noteOutcome(failed);
    }
    // A connection's replies in this batch leave in one write (see ws/cork.ts); uncorked below.
    const corked = new Map<WebSocket, Duplex | undefined>();
    for (const item of batch) {
      const conn = item.conn;
      if (conn.socket.readyState === WebSocket.OPEN) {
        if (!corked.has(conn.socket)) corked.set(conn.socket, cork(conn.socket));
        conn.socket.send(item.reply!);
      }
      if (--conn.pending === 0 && conn.onSettled !== undefined) {
        const settled = conn.onSettled;
        conn.onSettled = undefined;
        settled();
      }
    }
    for (const socket of corked.values()) socket?.uncork();
  }

  private noteOutcome(failed: number): void {
    if (failed > 0) {
      this.failures += failed;
      this.lastFailureAt = performance.now();
      // One warning per outage: an engine that is down has logged it already (it owns its
      // connection); the queue warns only about failures its engine does not report as an outage.
      if (!this.failing && this.durable.ready)
        this.logger.warn({ failed }, 'Stream append failed; answering "Service unavailable"');
      this.failing = true;
    } else if (this.failing) {
      this.failing = false;
      this.logger.info('Stream appends succeed again');
    }
  }

  private resumePaused(): void {
    if (this.paused.size === 0) return;
    if (this.queue.length > this.cfg.sinkQueueMax / 2 || this.queuedBytes > this.cfg.sinkQueueMaxBytes / 2)
      return;
    for (const conn of this.paused) {
      // A closing socket is read again too, so its close handshake completes.
      if (
        conn.socket.readyState === WebSocket.CLOSING ||
        (conn.socket.readyState === WebSocket.OPEN &&
          conn.socket.bufferedAmount <= this.cfg.clientMaxBufferBytes)
      ) {
        conn.socket.resume();
      }
    }
    this.paused.clear();
  }
}
