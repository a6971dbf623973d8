// A frame's whole way on /ws/behaviour: admit (rate limit, token refresh), parse, seq check, id,
// append, ack, emit to monitors. Message ids are handed out only by takeId(), and replies leave only
// through send(). Frames whose reply waits for the log (a sink, or seq state in Redis) go through the
// ack queue (ack-queue.ts), which keeps each connection's replies in frame order; seed frames (no
// stream id, no sink) are answered as they are read.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import type { WebSocket } from 'ws';
import { AuthService } from '../auth/auth.service.js';
import { appConfig } from '../config/app.config.js';
import { LATENCY_SAMPLE_EVERY, MetricsService } from '../metrics/metrics.service.js';
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_TOKEN_EXPIRED,
  INVALID_SEQ_ACK,
  INVALID_TOKEN_REPLY,
  MALFORMED_ACK,
  RATE_LIMIT_EXCEEDED,
  RATE_LIMITED,
  TOKEN_EXPIRED_REASON,
  UNAVAILABLE_ACK,
  encodeAck,
  refreshToken,
  refreshedReply,
  seqOf,
} from '../protocol/index.js';
import { RedisService } from '../redis/redis.service.js';
import { StreamLog } from '../sink/stream-log.js';
import { IdSource } from '../stream/id-source.js';
import { MemoryStreamState } from '../stream/stream-state.js';
import { MALFORMED, StreamService } from '../stream/stream.service.js';
import { pauseWhileBackedUp } from '../ws/backpressure.js';
import { AckQueue } from './ack-queue.js';
import { type Conn, closeWhenSettled, settled } from './connection.js';
import { RateLimiter } from './rate-limiter.js';

const SWEEP_MS = 60_000;
/** setTimeout's longest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Frames that may be a RefreshRequest hold this text; only they are parsed a second time. */
const REFRESH_MARK = Buffer.from('"refresh"');
/** How often at most the log is asked its count of stream states. */
const STATE_COUNT_EVERY_MS = 5000;

/** The token of a RefreshRequest frame, or undefined when the frame is anything else. */
function refreshOf(data: Buffer): string | undefined {
  try {
    return refreshToken(JSON.parse(data.toString()));
  } catch {
    return undefined;
  }
}

/** The seq of a refused frame, when it has one: later seqs are refused until it comes again. */
function refusedSeqOf(data: Buffer): number {
  try {
    return seqOf(JSON.parse(data.toString())) ?? 0;
  } catch {
    return 0;
  }
}

@Injectable()
export class FramePipeline implements OnModuleInit, OnModuleDestroy {
  /** SINK set: every frame is appended to the log before its ack. */
  readonly enabled: boolean;
  private readonly queue: AckQueue;
  private readonly conns = new WeakMap<WebSocket, Conn>();
  private sampled = 0;
  private sweeper?: NodeJS.Timeout;
  /** The log's last count of stream states, and when it came (performance.now()). */
  private states = { count: 0, at: -Infinity, asking: false };

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly stream: StreamService,
    private readonly ids: IdSource,
    private readonly log: StreamLog,
    private readonly state: MemoryStreamState,
    private readonly metrics: MetricsService,
    private readonly auth: AuthService,
    logger: PinoLogger,
    redis: RedisService,
  ) {
    logger.setContext(FramePipeline.name);
    this.enabled = cfg.sink !== 'none';
    // Without Redis or a sink the log is MemoryLog over `state`: its size is read live.
    const inMemory = !this.enabled && !redis.enabled;
    this.queue = new AckQueue(cfg, log, this.enabled, this, stream, metrics, logger);
    metrics.counter(
      'cbsa_stream_state_evictions_total',
      'Resumable streams dropped from the in-memory state within their TTL (STREAM_STATE_MAX or STREAM_STATE_MAX_BYTES): their old seqs would be accepted again',
      () => state.evictions,
    );
    metrics.gauge(
      'cbsa_stream_states',
      "Resumable streams whose last seq is kept: in memory, or in Redis or the NATS KV bucket (the store's count, refreshed every few seconds)",
      () => (inMemory ? state.size : this.stateCount()),
    );
  }

  onModuleInit(): void {
    this.sweeper = setInterval(() => this.state.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Shutdown: stop taking frames, then append and answer everything already queued. */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweeper);
    await this.drain(this.cfg.shutdownTimeoutMs);
  }

  drain(timeoutMs: number): Promise<void> {
    return this.queue.drain(timeoutMs);
  }

  /** Readiness of the log: see AckQueue.healthy (always true without a sink). */
  get healthy(): boolean {
    return !this.enabled || this.queue.healthy;
  }

  /** The stream's last accepted seq, for the resume frame. Rejects when the log is unreachable. */
  lastSeq(stream: string): Promise<number> {
    return this.log.lastSeq(stream);
  }

  /** Registers an ingest connection (its JWT expiry too), so closes can wait for its replies. */
  open(conn: Conn): void {
    this.conns.set(conn.socket, conn);
    if (conn.identity !== undefined) this.expireAt(conn, conn.identity.exp);
  }

  /** The connection of a registered ingest socket. */
  connOf(socket: WebSocket): Conn | undefined {
    return this.conns.get(socket);
  }

  /** For the adapter: resolves once the socket's pending replies are written (at once if none). */
  whenSocketSettled(socket: WebSocket): Promise<void> {
    const conn = this.conns.get(socket);
    return conn === undefined ? Promise.resolve() : settled(conn);
  }

  /** The frame handler of a connection, for its mode. `resumed`: as in resumableFrames. */
  frames(conn: Conn, resumed: boolean): (data: Buffer) => void {
    const { rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs } = this.cfg;
    const limiter =
      rateLimitPerConnection > 0
        ? new RateLimiter(rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs, Date.now())
        : undefined;
    if (conn.stream === undefined) {
      return this.enabled
        ? this.withRefresh(conn, this.sinkFrames(conn, limiter), true)
        : this.withRefresh(conn, this.seedFrames(conn, limiter), false);
    }
    return this.withRefresh(conn, this.resumableFrames(conn, conn.stream, limiter, resumed), true);
  }

  /** The one place a message id is handed out: undefined when none can be yet. */
  takeId(): number | undefined {
    return this.ids.next();
  }

  /** Resolves once an id can be handed out (or after `timeoutMs`, with false). */
  idsReady(timeoutMs: number): Promise<boolean> {
    return this.ids.whenReady(timeoutMs);
  }

  /** The one place a reply is written (the ack queue writes through it too). */
  send(conn: Conn, reply: string): void {
    conn.socket.send(reply);
  }

  /**
   * The seed contract, no stream id and no sink: ack as frames are read. The hot path: synchronous,
   * one parse, one event object, no closure per frame.
   */
  private seedFrames(conn: Conn, limiter: RateLimiter | undefined): (data: Buffer) => void {
    const { socket, clientId } = conn;
    const { clientMaxBufferBytes: limit, clientStallTimeoutMs: stallMs } = this.cfg;
    // Bound directly on the socket, not through Nest's envelope routing or RxJS. ws hands every
    // frame over as a Buffer (fragments joined, text already checked as UTF-8); binary frames are
    // read as UTF-8 text too.
    return (data: Buffer) => {
      if (limiter !== undefined && !this.admit(conn, limiter, data, false, 0)) return;
      const timed = ++this.sampled % LATENCY_SAMPLE_EVERY === 0 ? performance.now() : 0;
      const text = data.toString();
      const sub = conn.identity?.sub;
      const value = this.stream.parse(text, data.length, clientId, sub);
      if (value === MALFORMED) {
        this.send(conn, MALFORMED_ACK);
      } else {
        const id = this.takeId();
        if (id === undefined) {
          this.stream.countUnavailable();
          this.send(conn, UNAVAILABLE_ACK);
        } else {
          this.send(conn, encodeAck(this.stream.received(text, data.length, clientId, value, id, sub)));
        }
      }
      if (timed !== 0) this.metrics.ackLatency.observe((performance.now() - timed) / 1000);
      if (socket.bufferedAmount > limit) pauseWhileBackedUp(socket, limit, stallMs);
    };
  }

  /** Sink mode without a stream id: the ack waits for the append; errors queue behind earlier acks. */
  private sinkFrames(conn: Conn, limiter: RateLimiter | undefined): (data: Buffer) => void {
    return (data: Buffer) => {
      if (this.stopped(conn)) return;
      const receivedAt = performance.now();
      if (limiter !== undefined && !this.admit(conn, limiter, data, true, receivedAt)) return;
      const text = data.toString();
      const sub = conn.identity?.sub;
      const value = this.stream.parse(text, data.length, conn.clientId, sub);
      if (value === MALFORMED) return this.queue.reply(conn, MALFORMED_ACK, receivedAt);
      this.queue.append(
        conn,
        this.stream.unnumbered(text, data.length, conn.clientId, value, sub),
        receivedAt,
      );
      this.backpressure(conn);
    };
  }

  /**
   * A resumable stream: the log checks the seq (and, with a sink, stores the event) before the ack.
   * `resumed`: the connection picked up a known stream; its first event carries the mark for monitors.
   */
  private resumableFrames(
    conn: Conn,
    streamId: string,
    limiter: RateLimiter | undefined,
    resumed: boolean,
  ): (data: Buffer) => void {
    let mark = resumed;
    return (data: Buffer) => {
      if (this.stopped(conn)) return;
      const receivedAt = performance.now();
      if (limiter !== undefined && !this.admit(conn, limiter, data, true, receivedAt)) return;
      const text = data.toString();
      const sub = conn.identity?.sub;
      const value = this.stream.parse(text, data.length, conn.clientId, sub);
      if (value === MALFORMED) return this.queue.reply(conn, MALFORMED_ACK, receivedAt);
      const seq = seqOf(value);
      if (seq === undefined) {
        this.stream.countInvalidSeq();
        return this.queue.reply(conn, INVALID_SEQ_ACK, receivedAt);
      }
      this.queue.append(
        conn,
        this.stream.pending(text, data.length, conn.clientId, value, streamId, seq, mark, sub),
        receivedAt,
      );
      mark = false;
      this.backpressure(conn);
    };
  }

  /**
   * JWT mode: RefreshRequest frames are taken out before `frames` sees them (not events: no seq,
   * not counted, not stored). While one is verified, later frames wait, so every reply still
   * leaves in frame order. `queued`: replies go through the ack queue (else straight out).
   */
  private withRefresh(conn: Conn, frames: (data: Buffer) => void, queued: boolean): (data: Buffer) => void {
    if (conn.identity === undefined) return frames;
    let held: Buffer[] | undefined;
    const onFrame = (data: Buffer): void => {
      if (held !== undefined) {
        held.push(data);
        return;
      }
      const token = data.includes(REFRESH_MARK) ? refreshOf(data) : undefined;
      if (token === undefined) return frames(data);
      if (conn.closing) return;
      const receivedAt = performance.now();
      held = [];
      void this.refreshed(conn, token).then((reply) => {
        if (queued) this.queue.reply(conn, reply, receivedAt);
        else if (!conn.closing) this.send(conn, reply);
        const waiting = held!;
        held = undefined;
        for (const frame of waiting) onFrame(frame);
      });
    };
    return onFrame;
  }

  /** A RefreshRequest's reply: RefreshedReply (the new token is in force) or "Invalid token". */
  private async refreshed(conn: Conn, token: string): Promise<string> {
    const next = token === '' ? undefined : await this.auth.refresh(token, conn.identity!, conn.stream);
    if (next === undefined || conn.closing) return INVALID_TOKEN_REPLY;
    conn.identity = next;
    conn.kid = next.kid;
    this.expireAt(conn, next.exp);
    return refreshedReply(next.exp);
  }

  /** Closes the connection with 4003 once `exp` (plus the clock tolerance) passes, replies written first. */
  private expireAt(conn: Conn, exp: number): void {
    clearTimeout(conn.expiry);
    const delay = (exp + this.cfg.authClockToleranceS) * 1000 - Date.now();
    conn.expiry = setTimeout(
      () => {
        if (delay > MAX_TIMER_MS) return this.expireAt(conn, exp);
        if (conn.closing) return;
        closeWhenSettled(conn, CLOSE_TOKEN_EXPIRED, TOKEN_EXPIRED_REASON);
      },
      Math.min(Math.max(delay, 0), MAX_TIMER_MS),
    );
    conn.expiry.unref();
  }

  /** Closing, or draining for shutdown: the frame gets no reply and is not stored. */
  private stopped(conn: Conn): boolean {
    if (conn.closing) return true;
    if (!this.queue.draining) return false;
    conn.socket.pause();
    return true;
  }

  private backpressure(conn: Conn): void {
    if (conn.socket.bufferedAmount > this.cfg.clientMaxBufferBytes) {
      pauseWhileBackedUp(conn.socket, this.cfg.clientMaxBufferBytes, this.cfg.clientStallTimeoutMs);
    }
  }

  /**
   * The rate limit: false when the frame is refused (and, past the grace period, the socket closed
   * once its pending replies are written). On a resumable connection the refused seq blocks later
   * ones. `queued`: the refusal goes through the ack queue, behind the connection's earlier replies.
   */
  private admit(
    conn: Conn,
    limiter: RateLimiter,
    data: Buffer,
    queued: boolean,
    receivedAt: number,
  ): boolean {
    const verdict = limiter.take(Date.now());
    if (verdict === 'allow') return true;
    this.stream.countRateLimited();
    const seq = conn.stream === undefined ? 0 : refusedSeqOf(data);
    if (queued) this.queue.reply(conn, RATE_LIMITED, receivedAt, seq);
    else this.send(conn, RATE_LIMITED);
    if (verdict === 'close') closeWhenSettled(conn, CLOSE_POLICY_VIOLATION, RATE_LIMIT_EXCEEDED);
    return false;
  }

  /**
   * Streams with a seq state in the log, as last counted. Asked when scraped, at most once per
   * STATE_COUNT_EVERY_MS and never twice at once, so scrapes cost the log nothing more.
   */
  private stateCount(): number {
    const now = performance.now();
    if (!this.states.asking && now - this.states.at >= STATE_COUNT_EVERY_MS) {
      this.states.asking = true;
      this.log
        .countStates()
        .then(
          (count) => (this.states = { count, at: performance.now(), asking: false }),
          () => (this.states.asking = false),
        )
        .catch(() => undefined);
    }
    return this.states.count;
  }
}
