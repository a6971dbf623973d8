// SINK=nats: the durable handoff to a NATS JetStream stream. Every received event is published with
// its data exactly as sent, its metadata in headers and a Nats-Msg-Id that JetStream deduplicates
// on; the frame's ack is written only after the PubAck. Publishes are pipelined (many in flight),
// and replies leave in frame order through one FIFO, as with the Redis sink.
import {
  Inject,
  Injectable,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import {
  type JetStreamClient,
  type JetStreamManager,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { type NatsConnection, connect, headers } from '@nats-io/transport-node';
import { PinoLogger } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import { Counter, Histogram } from 'prom-client';
import { WebSocket } from 'ws';
import { INSTANCE_ID } from '../cluster/instance-id.js';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { type StreamEvent, UNAVAILABLE_ACK, ackFor, duplicateAckFor } from '../stream/stream-event.js';
import { StreamService } from '../stream/stream.service.js';
import { EventSink } from './event-sink.js';
import { desiredStream, incompatibilities } from './nats-stream-config.js';
import { NatsStreamState } from './nats-stream-state.js';

/** A PubAck later than this fails the publish ("Service unavailable"). */
export const PUBLISH_TIMEOUT_MS = 5000;
/**
 * Publishes awaiting their PubAck at once. More would only queue inside the client and the server
 * and time out together under load; the rest wait here (bounded by SINK_QUEUE_MAX, with
 * backpressure) and are published as acks come back.
 */
const MAX_IN_FLIGHT = 512;
/** Readiness goes 503 while the oldest publish has waited longer than this for its PubAck. */
const STALLED_MS = 2000;
/** While NATS is down, how often the stream is asked whether it takes publishes again. */
const PROBE_MS = 500;

interface Pending {
  socket: WebSocket;
  /** Set once the reply is decided: at once for errors, at the PubAck (or failure) for events. */
  reply: string | undefined;
  event: StreamEvent | undefined;
  receivedAt: number;
  /** When its publish started; 0 while it waits for a slot. */
  publishedAt: number;
  acked: boolean;
}

/** Drops user and password from server URLs before they are logged or shown. */
export function redactServers(servers: string[]): string {
  return servers.map((s) => s.replace(/\/\/[^@/]*@/, '//[redacted]@')).join(',');
}

@Injectable()
export class NatsSink extends EventSink implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  readonly enabled: boolean;
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private jsm?: JetStreamManager;
  private state?: NatsStreamState;
  /** An outage is under way: disconnected, or publishes failed and the stream has not answered since. */
  private down = false;
  private draining = false;
  private failures = 0;
  private dups = 0;
  private readonly queue: Pending[] = [];
  private head = 0;
  /** Events waiting for a publish slot, oldest first. */
  private readonly waiting: Pending[] = [];
  private waitingHead = 0;
  private inFlight = 0;
  private pendingBytes = 0;
  private readonly paused = new Set<WebSocket>();
  private probing?: NodeJS.Timeout;
  private whenEmpty?: () => void;
  private readonly publishLatency?: Histogram;
  private readonly publishErrors?: Counter;
  private readonly duplicates?: Counter;
  private readonly servers: string;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly stream: StreamService,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(NatsSink.name);
    this.enabled = cfg.sink === 'nats';
    this.servers = redactServers(cfg.natsServers);
    if (!this.enabled) return;
    const registers = [metrics.registry];
    this.publishLatency = new Histogram({
      name: 'cbsa_nats_publish_latency_seconds',
      help: 'JetStream publish to PubAck',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.publishErrors = new Counter({
      name: 'cbsa_nats_publish_errors_total',
      help: 'JetStream publishes that failed or timed out (answered "Service unavailable")',
      registers,
    });
    this.duplicates = new Counter({
      name: 'cbsa_nats_duplicates_total',
      help: 'PubAcks with duplicate: true (JetStream already held the Nats-Msg-Id)',
      registers,
    });
  }

  get errors(): number {
    return this.failures;
  }

  get duplicateCount(): number {
    return this.dups;
  }

  get accepting(): boolean {
    return !this.down && !this.draining;
  }

  get healthy(): boolean {
    if (!this.enabled) return true;
    if (this.down || this.js === undefined) return false;
    const oldest = this.queue[this.head];
    return (
      oldest === undefined || oldest.publishedAt === 0 || performance.now() - oldest.publishedAt < STALLED_MS
    );
  }

  /** Connects, checks or creates the stream and the state bucket; refuses to start when it cannot. */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    const cfg = this.cfg;
    try {
      this.nc = await connect({
        servers: cfg.natsServers,
        token: cfg.natsToken,
        name: `cbsa ${INSTANCE_ID}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 250,
        pingInterval: 5000,
        maxPingOut: 2,
        timeout: 5000,
      });
    } catch (err) {
      throw new Error(`NATS unreachable at ${this.servers}: ${(err as Error).message}`, { cause: err });
    }
    try {
      this.jsm = await jetstreamManager(this.nc, { timeout: 5000 });
    } catch (err) {
      await this.nc.close();
      throw new Error(
        `NATS at ${this.servers} has no JetStream (start nats-server with -js, or enable it for this account): ` +
          (err as Error).message,
        { cause: err },
      );
    }
    try {
      await this.ensureStream(this.jsm);
      const kv = await new Kvm(this.nc).create(`${cfg.natsStream}_streams`, {
        ttl: cfg.streamStateTtlS * 1000,
        replicas: cfg.natsReplicas,
        history: 1,
        storage: StorageType.File,
      });
      this.state = new NatsStreamState(kv);
    } catch (err) {
      await this.nc.close();
      throw err;
    }
    this.js = jetstream(this.nc, { timeout: PUBLISH_TIMEOUT_MS });
    void this.watch(this.nc);
    this.logger.info(
      { nats: this.servers, stream: cfg.natsStream, subject: cfg.natsSubject, replicas: cfg.natsReplicas },
      'NATS connected; publishing to stream %s',
      cfg.natsStream,
    );
  }

  /** Shutdown, first step: take no new frames and wait until every publish has its reply written. */
  async onModuleDestroy(): Promise<void> {
    if (!this.enabled) return;
    this.draining = true;
    clearTimeout(this.probing);
    // Events still waiting for a slot are answered "Service unavailable" (never published), so
    // the drain waits only for the publishes in flight.
    this.next();
    this.flush();
    if (this.head < this.queue.length) {
      await new Promise<void>((resolve) => {
        this.whenEmpty = resolve;
        setTimeout(resolve, PUBLISH_TIMEOUT_MS + 500).unref();
      });
    }
  }

  /** Shutdown, last step (after the sockets are closed with 1001): flush and close the connection. */
  async onApplicationShutdown(): Promise<void> {
    if (this.nc === undefined || this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close();
    }
  }

  /** The last seq of a resumable stream the log holds, from the KV bucket (0 when unknown). */
  lastSeq(stream: string): Promise<number> {
    return this.state!.lastSeq(stream);
  }

  reply(socket: WebSocket, reply: string, receivedAt: number): void {
    if (this.draining) return;
    if (this.head === this.queue.length) {
      socket.send(reply);
      return;
    }
    this.queue.push({ socket, reply, event: undefined, receivedAt, publishedAt: 0, acked: false });
  }

  append(socket: WebSocket, event: StreamEvent, receivedAt: number): void {
    if (this.draining) return;
    if (event.messageId === null) return this.reply(socket, ackFor(event), receivedAt);
    const item: Pending = { socket, reply: undefined, event, receivedAt, publishedAt: 0, acked: false };
    this.queue.push(item);
    this.pendingBytes += event.size;
    if (this.inFlight < MAX_IN_FLIGHT) void this.publish(item, event);
    else this.waiting.push(item);
    if (
      this.queue.length - this.head > this.cfg.sinkQueueMax ||
      this.pendingBytes > this.cfg.sinkQueueMaxBytes
    ) {
      // Backpressure: stop reading this socket until the queue has drained to half; TCP pushes back.
      socket.pause();
      this.paused.add(socket);
    }
  }

  /** One publish; never rejects. Sets the item's reply and writes every reply now due. */
  private async publish(item: Pending, event: StreamEvent): Promise<void> {
    const h = headers();
    h.set('message_id', String(event.messageId));
    h.set('client_id', event.clientId);
    h.set('server_timestamp', event.timestamp);
    h.set('category', event.route.category ?? '');
    const resumable = event.stream !== undefined && event.seq !== undefined;
    if (resumable) {
      h.set('stream', event.stream!);
      h.set('seq', String(event.seq));
    }
    const started = performance.now();
    item.publishedAt = started;
    this.inFlight++;
    try {
      const ack = await this.js!.publish(this.cfg.natsSubject, event.text, {
        msgID: resumable ? `${event.stream}:${event.seq}` : `${INSTANCE_ID}:${event.messageId}`,
        headers: h,
        timeout: PUBLISH_TIMEOUT_MS,
      });
      this.publishLatency!.observe((performance.now() - started) / 1000);
      if (ack.duplicate) {
        this.dups++;
        this.duplicates!.inc();
      }
      // The resume state is recorded before the ack, so an acked seq is never resent as new.
      const recorded = resumable ? await this.state!.record(event.stream!, event.seq!) : true;
      if (recorded) {
        item.reply = ack.duplicate && resumable ? duplicateAckFor(event) : ackFor(event);
        item.acked = true;
      } else {
        item.reply = UNAVAILABLE_ACK;
        this.fail(new Error('resume state write failed'));
      }
    } catch (err) {
      item.reply = UNAVAILABLE_ACK;
      this.fail(err as Error);
    }
    this.inFlight--;
    this.pendingBytes -= event.size;
    this.next();
    this.flush();
  }

  /** Starts the publishes waiting for a slot; during an outage or a shutdown they are refused instead. */
  private next(): void {
    const waiting = this.waiting;
    const refuse = this.down || this.draining;
    while (this.waitingHead < waiting.length && (refuse || this.inFlight < MAX_IN_FLIGHT)) {
      const item = waiting[this.waitingHead++];
      if (refuse) {
        // Never published: certain not to be in the log.
        item.reply = UNAVAILABLE_ACK;
        this.pendingBytes -= item.event!.size;
        this.stream.countUnavailable();
      } else void this.publish(item, item.event!);
    }
    if (this.waitingHead === waiting.length) {
      waiting.length = 0;
      this.waitingHead = 0;
    } else if (this.waitingHead > 4096 && this.waitingHead * 2 > waiting.length) {
      waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private fail(err: Error): void {
    this.failures++;
    this.publishErrors!.inc();
    this.stream.countUnavailable();
    this.outage(`NATS publish failed; answering "Service unavailable"`, err);
  }

  /** Writes the replies at the head of the queue that are decided, in frame order. */
  private flush(): void {
    const queue = this.queue;
    while (this.head < queue.length && queue[this.head].reply !== undefined) {
      const item = queue[this.head++];
      item.socket.send(item.reply!);
      if (item.acked) this.metrics.ackLatency.observe((performance.now() - item.receivedAt) / 1000);
    }
    if (this.head === queue.length) {
      queue.length = 0;
      this.head = 0;
      this.whenEmpty?.();
    } else if (this.head > 4096 && this.head * 2 > queue.length) {
      queue.splice(0, this.head);
      this.head = 0;
    }
    const waiting = queue.length - this.head;
    if (
      this.paused.size > 0 &&
      waiting <= this.cfg.sinkQueueMax / 2 &&
      this.pendingBytes <= this.cfg.sinkQueueMaxBytes / 2
    ) {
      for (const socket of this.paused) if (socket.readyState === WebSocket.OPEN) socket.resume();
      this.paused.clear();
    }
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const cfg = this.cfg;
    const wanted = desiredStream(cfg);
    let existing;
    try {
      existing = await jsm.streams.info(cfg.natsStream);
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
    }
    if (existing === undefined) {
      try {
        await jsm.streams.add(wanted);
      } catch (err) {
        throw new Error(`NATS stream "${cfg.natsStream}" could not be created: ${(err as Error).message}`, {
          cause: err,
        });
      }
      this.logger.info({ stream: cfg.natsStream, subject: cfg.natsSubject }, 'NATS stream created');
      return;
    }
    const problems = incompatibilities(existing.config, cfg);
    if (problems.length > 0) {
      throw new Error(
        `NATS stream "${cfg.natsStream}" exists with settings this service cannot use: ${problems.join('; ')}. ` +
          'Change the NATS_* settings to match, or update or remove the stream (nats stream edit/rm).',
      );
    }
  }

  /** Follows the connection: an outage starts at a disconnect and ends when the stream answers again. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') this.outage('NATS connection lost; retrying');
      else if (status.type === 'reconnect') this.probe();
    }
  }

  /** Starts an outage (one warning for the whole of it) and the probe that ends it. */
  private outage(message: string, err?: Error): void {
    if (this.down) return;
    this.down = true;
    this.logger.warn({ nats: this.servers, err: err?.message }, message);
    this.next();
    this.flush();
    clearTimeout(this.probing);
    this.probing = setTimeout(() => this.probe(), PROBE_MS);
    this.probing.unref();
  }

  /** Asks the stream whether it has a leader; ends the outage when it does, else asks again later. */
  private probe(): void {
    clearTimeout(this.probing);
    if (!this.down || this.draining || this.nc === undefined || this.nc.isClosed()) return;
    const again = () => {
      this.probing = setTimeout(() => this.probe(), PROBE_MS);
      this.probing.unref();
    };
    if (this.nc.isDraining()) return;
    this.jsm!.streams.info(this.cfg.natsStream).then(
      (info) => {
        if (info.cluster !== undefined && info.cluster.leader === undefined) return again();
        if (!this.down) return;
        this.down = false;
        this.logger.info({ nats: this.servers }, 'NATS stream available again');
      },
      () => again(),
    );
  }
}
