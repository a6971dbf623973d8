// WS /ws/behaviour: raw frames in, one reply out per frame, in order. Everything else happens in
// StreamService (and, with a sink or Redis, in StreamSink, which writes the acks after the append).
// A connection opened with a stream id (?stream= or X-CBSA-Stream) is resumable: the server first
// sends {"type":"resume",...}, then checks every frame's seq (see docs/delivery-guarantees.md).
import { Inject, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { OnGatewayConnection } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import type { Subscription } from 'rxjs';
import { AuthService } from '../auth/auth.service.js';
import { BusService } from '../cluster/bus.service.js';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { LATENCY_SAMPLE_EVERY, MetricsService } from '../metrics/metrics.service.js';
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_STREAM_RESUMED,
  CLOSE_TOKEN_EXPIRED,
  CLOSE_TRY_AGAIN_LATER,
  DEFAULT_INGEST_PATH,
  INVALID_SEQ_ACK,
  INVALID_TOKEN_REPLY,
  MALFORMED_ACK,
  RATE_LIMIT_EXCEEDED,
  RATE_LIMITED,
  STREAM_HEADER,
  STREAM_RESUMED_REASON,
  TOKEN_EXPIRED_REASON,
  UNAVAILABLE_ACK,
  duplicateReply,
  encodeAck,
  receivedWithSeq,
  refreshToken,
  refreshedReply,
  requestedStream,
  resumeFrame,
  seqOf,
} from '../protocol/index.js';
import { type Conn, blockedReply, newConn, refuse } from '../sink/connection.js';
import { StreamSink } from '../sink/stream-sink.service.js';
import { MemoryStreamState } from '../stream/stream-state.js';
import { MALFORMED, StreamService } from '../stream/stream.service.js';
import { pauseWhileBackedUp } from '../ws/backpressure.js';
import { newClientId } from '../ws/client-id.js';
import { sharedListener } from '../ws/shared-listener.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { RateLimiter } from './rate-limiter.js';

const SWEEP_MS = 60_000;
/** setTimeout's longest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Frames that may be a RefreshRequest hold this text; only they are parsed a second time. */
const REFRESH_MARK = Buffer.from('"refresh"');

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

@WebSocketGateway<GatewayOptions>({ path: DEFAULT_INGEST_PATH, endpoint: 'websocketEndpoint' })
export class IngestGateway implements OnGatewayConnection<WebSocket>, OnModuleInit, OnModuleDestroy {
  private sampled = 0;
  /** The live connection of each stream on this instance: a newer one closes the older (4001). */
  private readonly owners = new Map<string, Conn>();
  private sweeper?: NodeJS.Timeout;
  private takeovers?: Subscription;

  constructor(
    private readonly stream: StreamService,
    private readonly sink: StreamSink,
    private readonly state: MemoryStreamState,
    private readonly metrics: MetricsService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
    private readonly bus: BusService,
    private readonly lifecycle: LifecycleService,
    private readonly auth: AuthService,
  ) {
    logger.setContext(IngestGateway.name);
    metrics.counter(
      'cbsa_stream_state_evictions_total',
      'Resumable streams dropped from the in-memory state within their TTL (STREAM_STATE_MAX or STREAM_STATE_MAX_BYTES): their old seqs would be accepted again',
      () => state.evictions,
    );
    metrics.gauge(
      'cbsa_stream_states',
      "Resumable streams whose last seq is kept: in memory, or in Redis or the NATS KV bucket (the store's count, refreshed every few seconds)",
      () => (sink.queued ? sink.stateCount() : state.size),
    );
  }

  onModuleInit(): void {
    this.sweeper = setInterval(() => this.state.sweep(), SWEEP_MS);
    this.sweeper.unref();
    // A newer connection of a stream on another instance closes the older one here too.
    // Only a connection of the same subject takes a stream over.
    this.takeovers = this.bus.takeovers$.subscribe(({ stream, openedAt, sub }) => {
      const older = this.owners.get(stream);
      if (older !== undefined && older.openedAt < openedAt && older.sub === sub) {
        this.sink.closeWhenSettled(older, CLOSE_STREAM_RESUMED, STREAM_RESUMED_REASON);
      }
    });
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
    this.takeovers?.unsubscribe();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const clientId = newClientId();
    const { rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs } = this.cfg;
    const limiter =
      rateLimitPerConnection > 0
        ? new RateLimiter(rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs, Date.now())
        : undefined;
    // Checked by the UpgradePolicy already: a string or undefined here.
    const streamId = requestedStream(request.url, request.headers[STREAM_HEADER]) ?? undefined;
    // JWT mode: who it is was verified at the upgrade (AuthService), before any state was read.
    const identity = this.auth.identityOf(request);
    const conn = newConn(socket, clientId, streamId, identity);
    this.sink.track(conn);
    if (identity !== undefined) this.expireAt(conn, identity.exp);
    this.stream.connectionOpened();
    // `on`, not `once`: ws emits close once, and once() would wrap the listener in a closure.
    socket.on('close', this.onSocketClose);
    this.logger.info(
      {
        client_id: clientId,
        remote_address: request.socket.remoteAddress,
        user_agent: request.headers['user-agent'],
        stream: streamId,
        sub: identity?.sub,
      },
      'Client %s connected',
      clientId,
    );
    if (streamId === undefined) {
      socket.on(
        'message',
        this.sink.enabled
          ? this.withRefresh(conn, this.sinkFrames(conn, limiter), true)
          : this.withRefresh(conn, this.seedFrames(conn, limiter), false),
      );
      return;
    }
    const older = this.owners.get(streamId);
    if (older !== undefined && older.sub !== conn.sub) {
      // Two subjects that both own the stream (a:b and a for a:b:c) raced past the upgrade check.
      conn.closing = true;
      socket.close(CLOSE_POLICY_VIOLATION, 'Stream held by another subject');
      return;
    }
    if (older !== undefined) this.sink.closeWhenSettled(older, CLOSE_STREAM_RESUMED, STREAM_RESUMED_REASON);
    this.owners.set(streamId, conn);
    if (identity !== undefined) this.auth.hold(streamId, identity.sub);
    this.bus.announceStream(streamId, conn.openedAt, conn.sub);
    if (!this.sink.queued) {
      const last = this.state.lastSeq(streamId);
      socket.send(resumeFrame(streamId, last));
      socket.on(
        'message',
        this.withRefresh(conn, this.memoryFrames(conn, streamId, limiter, this.stream.resumed(last)), false),
      );
      return;
    }
    // The stream's state is in Redis: hold frames until the resume frame, which must come first.
    const early: Buffer[] = [];
    let onFrame: ((data: Buffer) => void) | undefined;
    socket.on('message', (data: Buffer) => (onFrame === undefined ? early.push(data) : onFrame(data)));
    socket.pause();
    this.sink.lastSeq(streamId).then(
      (last) => {
        socket.send(resumeFrame(streamId, last));
        onFrame = this.withRefresh(
          conn,
          this.queuedFrames(conn, streamId, limiter, this.stream.resumed(last)),
          true,
        );
        early.forEach(onFrame);
        socket.resume();
      },
      () => {
        conn.closing = true;
        socket.close(CLOSE_TRY_AGAIN_LATER, 'Try Again Later');
        // Read again so the client's close frame is seen: a paused socket would hold the close
        // handshake open until ws's 30 s close timeout. Early frames are dropped (not stored).
        socket.resume();
      },
    );
  }

  /**
   * One close listener shared by every ingest socket (`this` is the socket), rather than a closure
   * per connection: at 100k sockets each closure and its context are memory that adds up.
   */
  private readonly onSocketClose = sharedListener((socket, code: number) => this.closed(socket, code));

  private closed(socket: WebSocket, code: number): void {
    this.stream.connectionClosed();
    const conn = this.sink.connOf(socket);
    if (conn === undefined) return;
    const { clientId, stream } = conn;
    clearTimeout(conn.expiry);
    if (stream !== undefined && this.owners.get(stream) === conn) {
      this.owners.delete(stream);
      this.auth.letGo(stream, conn.sub);
    }
    // At shutdown the adapter logs one line for all of them: 100k lines would outlast SHUTDOWN_TIMEOUT_MS
    // in the log pipe alone (a process exits only once its log is flushed).
    if (this.lifecycle.shuttingDown) {
      this.logger.debug({ client_id: clientId, code }, 'Client %s disconnected (%d)', clientId, code);
    } else {
      this.logger.info({ client_id: clientId, code }, 'Client %s disconnected (%d)', clientId, code);
    }
  }

  /** The seed contract, no stream id and no sink: ack as frames are read. The hot path. */
  private seedFrames(conn: Conn, limiter: RateLimiter | undefined): (data: Buffer) => void {
    const { socket, clientId } = conn;
    const { clientMaxBufferBytes: limit, clientStallTimeoutMs: stallMs } = this.cfg;
    // Bound directly on the socket, not through Nest's envelope routing or RxJS. ws hands every
    // frame over as a Buffer (fragments joined, text already checked as UTF-8); binary frames are
    // read as UTF-8 text too.
    return (data: Buffer) => {
      if (limiter !== undefined && !this.admit(conn, limiter, data, (reply) => socket.send(reply))) return;
      const timed = ++this.sampled % LATENCY_SAMPLE_EVERY === 0 ? performance.now() : 0;
      const event = this.stream.process(data.toString(), data.length, clientId, conn.identity?.sub);
      socket.send(event === undefined ? UNAVAILABLE_ACK : encodeAck(event));
      if (timed !== 0) this.metrics.ackLatency.observe((performance.now() - timed) / 1000);
      if (socket.bufferedAmount > limit) pauseWhileBackedUp(socket, limit, stallMs);
    };
  }

  /** Sink mode without a stream id: the ack waits for the append; errors queue behind earlier acks. */
  private sinkFrames(conn: Conn, limiter: RateLimiter | undefined): (data: Buffer) => void {
    return (data: Buffer) => {
      if (this.stopped(conn)) return;
      const receivedAt = performance.now();
      if (
        limiter !== undefined &&
        !this.admit(conn, limiter, data, (r) => this.sink.reply(conn, r, receivedAt))
      )
        return;
      const text = data.toString();
      const sub = conn.identity?.sub;
      const value = this.stream.parse(text, data.length, conn.clientId, sub);
      if (value === MALFORMED) return this.sink.reply(conn, MALFORMED_ACK, receivedAt);
      this.sink.append(
        conn,
        this.stream.unnumbered(text, data.length, conn.clientId, value, sub),
        receivedAt,
      );
      this.backpressure(conn);
    };
  }

  /**
   * A resumable stream whose state is in memory (no Redis): decided as frames are read. `resumed`:
   * the connection picked up a known stream; its first event carries the mark for monitors.
   */
  private memoryFrames(
    conn: Conn,
    streamId: string,
    limiter: RateLimiter | undefined,
    resumed: boolean,
  ): (data: Buffer) => void {
    const { socket, clientId } = conn;
    const sub = conn.identity?.sub;
    const maxGap = this.cfg.maxSeqGap;
    let mark = resumed;
    return (data: Buffer) => {
      if (conn.closing) return;
      if (limiter !== undefined && !this.admit(conn, limiter, data, (reply) => socket.send(reply))) return;
      const text = data.toString();
      const value = this.stream.parse(text, data.length, clientId, sub);
      if (value === MALFORMED) return socket.send(MALFORMED_ACK);
      const seq = seqOf(value);
      if (seq === undefined) {
        this.stream.countInvalidSeq();
        return socket.send(INVALID_SEQ_ACK);
      }
      const blocked = blockedReply(conn, seq);
      if (blocked !== undefined) {
        this.stream.countRateLimited();
        return socket.send(blocked);
      }
      const last = this.state.lastSeq(streamId);
      // With the stream's state known, a jump past MAX_SEQ_GAP is refused; unknown (0), any first
      // seq is the baseline.
      if (last > 0 && seq - last > maxGap) {
        this.stream.countInvalidSeq();
        return socket.send(INVALID_SEQ_ACK);
      }
      const event = this.stream.pending(text, data.length, clientId, value, streamId, seq, mark, sub);
      mark = false;
      if (seq <= last) {
        this.stream.duplicated(event);
        socket.send(duplicateReply(event.timestamp, seq));
      } else {
        const id = this.stream.nextId()!;
        event.messageId = id;
        event.gap = last === 0 ? 0 : seq - last - 1;
        this.state.accept(streamId, seq);
        this.stream.accepted(event);
        socket.send(receivedWithSeq(event.timestamp, id, seq));
      }
      this.backpressure(conn);
    };
  }

  /**
   * A resumable stream whose state is in Redis: the seq is checked (and, in sink mode, stored) there.
   * `resumed` as in memoryFrames.
   */
  private queuedFrames(
    conn: Conn,
    streamId: string,
    limiter: RateLimiter | undefined,
    resumed: boolean,
  ): (data: Buffer) => void {
    let mark = resumed;
    return (data: Buffer) => {
      if (this.stopped(conn)) return;
      const receivedAt = performance.now();
      if (
        limiter !== undefined &&
        !this.admit(conn, limiter, data, (r, seq) => this.sink.reply(conn, r, receivedAt, seq))
      )
        return;
      const text = data.toString();
      const sub = conn.identity?.sub;
      const value = this.stream.parse(text, data.length, conn.clientId, sub);
      if (value === MALFORMED) return this.sink.reply(conn, MALFORMED_ACK, receivedAt);
      const seq = seqOf(value);
      if (seq === undefined) {
        this.stream.countInvalidSeq();
        return this.sink.reply(conn, INVALID_SEQ_ACK, receivedAt);
      }
      this.sink.append(
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
   * leaves in frame order. `queued`: replies go through the sink queue (else straight out).
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
        if (queued) this.sink.reply(conn, reply, receivedAt);
        else if (!conn.closing) conn.socket.send(reply);
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
        this.sink.closeWhenSettled(conn, CLOSE_TOKEN_EXPIRED, TOKEN_EXPIRED_REASON);
      },
      Math.min(Math.max(delay, 0), MAX_TIMER_MS),
    );
    conn.expiry.unref();
  }

  /** Closing, or draining for shutdown: the frame gets no reply and is not stored. */
  private stopped(conn: Conn): boolean {
    if (conn.closing) return true;
    if (!this.sink.draining) return false;
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
   * once its pending replies are written). On a resumable connection the refused seq blocks later ones.
   */
  private admit(
    conn: Conn,
    limiter: RateLimiter,
    data: Buffer,
    reply: (text: string, refusedSeq: number) => void,
  ): boolean {
    const verdict = limiter.take(Date.now());
    if (verdict === 'allow') return true;
    this.stream.countRateLimited();
    const seq = conn.stream === undefined ? 0 : refusedSeqOf(data);
    if (seq > 0 && !this.sink.queued) refuse(conn, seq, RATE_LIMITED);
    reply(RATE_LIMITED, seq);
    if (verdict === 'close') this.sink.closeWhenSettled(conn, CLOSE_POLICY_VIOLATION, RATE_LIMIT_EXCEEDED);
    return false;
  }
}
