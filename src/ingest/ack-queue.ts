// The ack queue in front of the log (StreamLog): frames whose reply waits for the log. A
// received event is counted, fanned out and acked only after its append succeeded, and every reply
// of a connection on the queue leaves in frame order. Up to SINK_PIPELINE batches are in flight at
// once (engines that check `after`; else one), and a later batch never stores past an earlier one
// that failed. Ids and writes come from the pipeline (Outlet): each is done in one place.
import type { ConfigType } from '@nestjs/config';
import type { PinoLogger } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { appConfig } from '../config/app.config.js';
import type { MetricsService } from '../metrics/metrics.service.js';
import {
  INVALID_SEQ_ACK,
  UNAVAILABLE_ACK,
  duplicateReply,
  encodeAck,
  quarantinedReply,
  receivedWithSeq,
} from '../protocol/index.js';
import type { StreamEvent } from '../stream/stream-event.js';
import { subjectOf } from '../privacy/subject.js';
import { cork } from '../ws/cork.js';
import type { StreamService } from '../stream/stream.service.js';
import { type Conn, blockedReply, refuse } from './connection.js';
import {
  type AppendOutcome,
  DUPLICATE,
  StreamLog,
  FAILED,
  INVALID,
  type SinkEntry,
} from '../sink/stream-log.js';

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

/** A batch handed to the engine: answered once its outcomes are in and every earlier flight's are. */
interface Flight {
  /** Its number, for inFlightSeqs. */
  id: number;
  batch: Pending[];
  bytes: number;
  /** The items whose entries were sent, in order. */
  appended: Pending[];
  outcomes: AppendOutcome[] | undefined;
  /** Streams whose highest in-flight seq this flight set (see inFlightSeqs). */
  streams: string[];
}

/** What the queue takes from the pipeline: message ids and the socket writes (FramePipeline). */
export interface Outlet {
  /** The next message id, or undefined when none can be handed out yet. */
  takeId(): number | undefined;
  /** Resolves once an id can be handed out (or after `timeoutMs`, with false). */
  idsReady(timeoutMs: number): Promise<boolean>;
  /** Writes a reply to the connection's socket. */
  send(conn: Conn, reply: string): void;
}

export class AckQueue {
  private queue: Pending[] = [];
  /** Bytes of frame text queued or in flight. */
  private queuedBytes = 0;
  /** Batches handed to the engine (or being built), oldest first; answered strictly in this order. */
  private readonly flights: Flight[] = [];
  private inFlightItems = 0;
  /** At most this many flights at once: SINK_PIPELINE when the engine checks `after`, else 1. */
  private readonly maxFlights: number;
  /**
   * Per stream, the highest seq sent in a flight not yet answered, and the last flight that sent one:
   * a later batch's entries of that stream carry it as `after`. Instance-wide, not per connection,
   * as two connections of one stream may share the queue for a moment (a takeover).
   *
   * It names the flight by its number, never holds the flight itself: a flight object here would keep
   * every batch in flight (its frames, texts, parsed values and replies) alive through V8's
   * young-generation collections, promoting it to the old generation and multiplying the GC pauses.
   * Bench scenario 7 reports the GC pauses per ack.
   */
  private readonly inFlightSeqs = new Map<string, { seq: number; flight: number }>();
  private flightIds = 0;
  /** A batch is being built (it may wait for message ids): the next one waits, so order holds. */
  private starting = false;
  private scheduled = false;
  private failures = 0;
  private lastFailureAt = 0;
  private failing = false;
  private stopping = false;
  private readonly paused = new Set<Conn>();
  /** Sockets corked by the batches answered in this tick, uncorked together (see finish). */
  private readonly corked = new Map<WebSocket, Duplex | undefined>();
  private idle: (() => void)[] = [];

  /** `store`: entries go into the log (a sink); false: only their seqs are checked (Redis state). */
  constructor(
    private readonly cfg: ConfigType<typeof appConfig>,
    private readonly durable: StreamLog,
    private readonly store: boolean,
    private readonly outlet: Outlet,
    private readonly stream: StreamService,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    this.maxFlights = durable.pipelined ? cfg.sinkPipeline : 1;
    metrics.counter(
      'cbsa_sink_errors_total',
      'Stream appends that failed (their frames were answered "Service unavailable")',
      () => this.failures,
    );
    metrics.gauge(
      'cbsa_sink_queue_depth',
      'Frames waiting for their reply from the log (resumable streams, or every frame with a sink)',
      () => this.depth,
    );
  }

  /** Frames waiting for their append (including the batches in flight). */
  get depth(): number {
    return this.queue.length + this.inFlightItems;
  }

  /**
   * Readiness: false while the oldest pending append is older than SINK_READY_MAX_AGE_MS, while the
   * engine is disconnected, or shortly after a failed append. Recovers by itself.
   */
  get healthy(): boolean {
    const now = performance.now();
    const oldest = this.flights[0]?.batch[0]?.receivedAt ?? this.queue[0]?.receivedAt;
    if (oldest !== undefined && now - oldest > this.cfg.sinkReadyMaxAgeMs) return false;
    if (this.failing && now - this.lastFailureAt < FAILURE_HOLD_MS) return false;
    return this.durable.ready;
  }

  /** Draining for shutdown: new frames get no reply and are not stored. */
  get draining(): boolean {
    return this.stopping;
  }

  /** A reply decided at arrival (malformed, invalid seq, refusal), queued behind earlier replies. */
  reply(conn: Conn, reply: string, receivedAt: number, refusedSeq = 0): void {
    this.push({ conn, reply, event: undefined, refusedSeq, bytes: 0, receivedAt });
  }

  /** A received event: appended (and its seq checked), then acked. */
  append(conn: Conn, event: StreamEvent, receivedAt: number): void {
    this.push({ conn, reply: undefined, event, refusedSeq: 0, bytes: event.size, receivedAt });
  }

  /** Shutdown: stop taking frames, then append and answer everything already queued. */
  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.idleNow) return;
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
    if (this.depth > this.cfg.sinkQueueMax || this.queuedBytes > this.cfg.sinkQueueMaxBytes) {
      if (!this.paused.has(item.conn)) {
        this.paused.add(item.conn);
        item.conn.socket.pause();
      }
    }
    // On the next turn, so that the frames read in this one share a batch.
    if (this.scheduled || this.starting || this.flights.length >= this.maxFlights) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.start();
    });
  }

  private get idleNow(): boolean {
    return this.queue.length === 0 && this.flights.length === 0 && !this.scheduled;
  }

  /** Builds the next batch and hands it to the engine, while a flight slot is free. */
  private async start(): Promise<void> {
    while (!this.starting && this.queue.length > 0 && this.flights.length < this.maxFlights) {
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && count < MAX_BATCH && bytes < MAX_BATCH_BYTES) {
        bytes += this.queue[count++].bytes;
      }
      const batch = this.queue.splice(0, count);
      const flight: Flight = {
        id: ++this.flightIds,
        batch,
        bytes,
        appended: [],
        outcomes: undefined,
        streams: [],
      };
      this.flights.push(flight);
      this.inFlightItems += count;
      this.starting = true;
      let entries: SinkEntry[] = [];
      try {
        entries = await this.prepare(flight);
      } catch (err) {
        this.logger.error({ err }, 'Sink batch failed unexpectedly');
        for (const item of batch) {
          if (item.reply !== undefined) continue;
          item.reply = UNAVAILABLE_ACK;
          if (item.event?.stream !== undefined) refuse(item.conn, item.event.seq!, UNAVAILABLE_ACK);
        }
        flight.appended = [];
      }
      this.starting = false;
      if (flight.appended.length === 0) {
        flight.outcomes = [];
        this.settle();
        continue;
      }
      const appending = this.durable.ready
        ? this.durable.append(entries, this.store)
        : Promise.resolve(entries.map(() => FAILED));
      appending.then(
        (outcomes) => {
          flight.outcomes = outcomes;
          this.settle();
        },
        // Engines never reject; should one, its entries count as failed, as the contract says.
        () => {
          flight.outcomes = entries.map(() => FAILED);
          this.settle();
        },
      );
    }
  }

  /** Answers the flights whose outcomes are in, oldest first, up to the first still waiting. */
  private settle(): void {
    while (this.flights.length > 0 && this.flights[0].outcomes !== undefined) {
      const flight = this.flights.shift()!;
      try {
        this.finish(flight);
      } catch (err) {
        this.logger.error({ err }, 'Sink batch failed unexpectedly');
      }
      this.queuedBytes -= flight.bytes;
      this.inFlightItems -= flight.batch.length;
      for (const stream of flight.streams) {
        if (this.inFlightSeqs.get(stream)?.flight === flight.id) this.inFlightSeqs.delete(stream);
      }
    }
    this.resumePaused();
    if (this.queue.length > 0) void this.start();
    if (this.idleNow && !this.starting) {
      const idle = this.idle;
      this.idle = [];
      idle.forEach((resolve) => resolve());
    }
  }

  /**
   * In frame order: refusals block later seqs, blocked frames are refused, the rest get ids and
   * become entries. Each entry of a stream that an earlier flight still holds carries that flight's
   * highest seq of it as `after`: should that flight fail, the engine fails this entry too.
   */
  private async prepare(flight: Flight): Promise<SinkEntry[]> {
    const entries: SinkEntry[] = [];
    const appended = flight.appended;
    /** This batch's `after` per stream: the highest seq earlier flights hold (0: none). */
    let afters: Map<string, number> | undefined;
    for (const item of flight.batch) {
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
      let id = this.outlet.takeId();
      if (id === undefined && (await this.outlet.idsReady(this.cfg.redisCommandTimeoutMs))) {
        id = this.outlet.takeId();
      }
      if (id === undefined) {
        item.reply = UNAVAILABLE_ACK;
        this.stream.countUnavailable();
        if (event.stream !== undefined) refuse(item.conn, event.seq!, UNAVAILABLE_ACK);
        continue;
      }
      event.messageId = id;
      appended.push(item);
      const stream = event.stream ?? '';
      const seq = event.seq ?? 0;
      let after = 0;
      if (stream !== '') {
        afters ??= new Map();
        const known = afters.get(stream);
        if (known === undefined) {
          // This batch's first entry of the stream: what an earlier, unanswered flight holds of it
          // (settle() drops a flight's seqs once it is answered). From now on this flight holds it.
          after = this.inFlightSeqs.get(stream)?.seq ?? 0;
          afters.set(stream, after);
          flight.streams.push(stream);
          this.inFlightSeqs.set(stream, { seq: Math.max(seq, after), flight: flight.id });
        } else {
          after = known;
          const held = this.inFlightSeqs.get(stream)!;
          if (seq > held.seq) held.seq = seq;
        }
      }
      entries.push({
        stream,
        seq,
        messageId: id,
        clientId: event.clientId,
        timestamp: event.timestamp,
        category: event.route.category ?? '',
        data: event.text,
        subject: subjectOf(item.conn),
        ...(event.quarantine !== undefined && { quarantine: JSON.stringify(event.quarantine) }),
        after,
        sub: item.conn.sub,
        kid: item.conn.kid,
      });
    }
    return entries;
  }

  /** The flight's outcomes, in frame order: acks, duplicates and refusals, then one write per socket. */
  private finish(flight: Flight): void {
    const { batch, appended } = flight;
    const outcomes = flight.outcomes!;
    if (appended.length > 0) {
      let failed = 0;
      appended.forEach((item, i) => {
        const event = item.event!;
        const outcome = outcomes[i] ?? FAILED;
        if (outcome >= 0) {
          if (event.quarantine !== undefined) {
            if (event.stream !== undefined) event.gap = event.seq! - outcome - 1;
            item.reply = quarantinedReply(event.timestamp, event.messageId!, event.seq, event.quarantine);
          } else if (event.stream === undefined) {
            item.reply = encodeAck(event);
          } else {
            // 0: the stream's state was unknown, this seq is its baseline (no gap).
            event.gap = outcome === 0 ? 0 : event.seq! - outcome - 1;
            item.reply = receivedWithSeq(event.timestamp, event.messageId!, event.seq!);
          }
          this.stream.accepted(event);
          this.metrics.ackLatency.observe((performance.now() - item.receivedAt) / 1000);
        } else if (outcome === INVALID) {
          event.messageId = null;
          item.reply = INVALID_SEQ_ACK;
          this.stream.countInvalidSeq();
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
    // A connection's replies leave in one write (see ws/cork.ts): this batch's, and those of every
    // other batch answered before the tick ends (several complete together when their replies from
    // the engine come in one read). Uncorked once the current microtasks are done.
    const corked = this.corked;
    for (const item of batch) {
      const conn = item.conn;
      if (conn.socket.readyState === WebSocket.OPEN) {
        if (!corked.has(conn.socket)) {
          corked.set(conn.socket, cork(conn.socket));
          if (corked.size === 1) process.nextTick(this.uncork);
        }
        this.outlet.send(conn, item.reply!);
      }
      if (--conn.pending === 0 && conn.onSettled !== undefined) {
        // Whoever waits (a close, a terminate) may act before the tick ends: write its replies now.
        corked.get(conn.socket)?.uncork();
        corked.delete(conn.socket);
        const settled = conn.onSettled;
        conn.onSettled = undefined;
        settled();
      }
    }
  }

  private readonly uncork = (): void => {
    for (const socket of this.corked.values()) socket?.uncork();
    this.corked.clear();
  };

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
    if (this.depth > this.cfg.sinkQueueMax / 2 || this.queuedBytes > this.cfg.sinkQueueMaxBytes / 2) return;
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
