// SINK=nats: the StreamLog on a NATS JetStream stream. Every received event is published with its
// data exactly as sent, its metadata in headers and a Nats-Msg-Id that JetStream deduplicates on
// (<stream>:<seq>, or <instance>:<message_id> without a stream id). A batch's publishes are
// pipelined (up to MAX_IN_FLIGHT awaiting their PubAck at once, see publisher.ts). A resumable
// stream's last seq lives in the KV bucket <NATS_STREAM>_streams, written after the PubAck and
// before the ack, so it is never ahead of the log. The ack queue (src/ingest/ack-queue.ts) decides when frames
// are acked. The connection and its outages are connection.ts's; the stream's setup provisioning.ts's.
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { PinoLogger } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import { appConfig } from '../../config/app.config.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { EventPolicy } from '../../privacy/event-policy.service.js';
import { natsSubjectTokens } from '../../privacy/subject.js';
import { type AppendOutcome, DUPLICATE, StreamLog, FAILED, type SinkEntry } from '../stream-log.js';
import { UNREADABLE, baseline, planBatch, spreadFailures } from '../batch-decision.js';
import { NatsClient } from './connection.js';
import { ensureStream, stateBucket } from './provisioning.js';
import { PubAckPublisher, type PublishListener, type PublishOutcome, natsHeaderBlock } from './publisher.js';
import { quarantineSubject } from './stream-config.js';
import { NatsStreamState } from './stream-state.js';

/** A PubAck later than this fails the publish ("Service unavailable"). */
export const PUBLISH_TIMEOUT_MS = 5000;
/**
 * Publishes awaiting their PubAck at once. More would only queue inside the client and the server
 * and time out together under load; the rest of a batch waits for a slot.
 */
const MAX_IN_FLIGHT = 512;

@Injectable()
export class NatsSink extends StreamLog implements OnModuleInit, OnApplicationShutdown {
  readonly enabled: boolean;
  private publisher?: PubAckPublisher;
  private state?: NatsStreamState;
  /**
   * Per resumable stream, the highest seq this process knows the log holds: read from KV, or
   * published by it (its KV write may still be under way, or have failed). LRU-bounded.
   */
  private readonly held = new Map<string, number>();
  /** Streams of the batches in flight (how many each): never evicted from `held` meanwhile. */
  private readonly pinned = new Map<string, number>();
  /** Settles once the last append() called so far has recorded its outcomes (step 3). */
  private recorded: Promise<void> = Promise.resolve();
  private inFlight = 0;
  /** Publishes waiting for a slot, in order: a batch and the index of its entry. */
  private readonly queued: { batch: PublishBatch; index: number }[] = [];
  private dups = 0;
  private errors = 0;
  private readonly publishLatency?: Histogram;
  private readonly policy: EventPolicy;
  /** Where events that failed their schema go (EVENT_SCHEMAS_DIR), with an `errors` header. */
  private readonly quarantineSubject: string;
  /** Erasure on (ADMIN_TOKEN): each subject's entries go to a subject of their own (see privacy/subject.ts). */
  private readonly perSubject: boolean;
  /** How long a stream's KV value, once seen, is trusted without reading it again: half the window. */
  private readonly freshMs: number;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    metrics: MetricsService,
    private readonly logger: PinoLogger,
    private readonly client: NatsClient,
    @Optional() policy?: EventPolicy,
  ) {
    super();
    this.policy = policy ?? new EventPolicy(undefined);
    logger.setContext(NatsSink.name);
    this.perSubject = cfg.adminToken !== undefined;
    this.quarantineSubject = quarantineSubject(cfg.natsSubject);
    this.enabled = cfg.sink === 'nats';
    this.freshMs = (cfg.natsDuplicateWindowS * 1000) / 2;
    if (!this.enabled) return;
    this.publishLatency = metrics.histogram(
      'cbsa_nats_publish_latency_seconds',
      'JetStream publish to PubAck',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    );
    metrics.counter(
      'cbsa_nats_publish_errors_total',
      'JetStream publishes that failed or timed out (answered "Service unavailable")',
      () => this.errors,
    );
    metrics.counter(
      'cbsa_nats_duplicates_total',
      'PubAcks with duplicate: true (JetStream already held the Nats-Msg-Id)',
      () => this.dups,
    );
  }

  get ready(): boolean {
    return this.publisher !== undefined && !this.down;
  }

  /** An outage is under way (connection.ts): publishes fail at once, and so does a KV read. */
  private get down(): boolean {
    return this.client.down;
  }

  /** The connection and stream manager, once connected (erasure by subject uses them). */
  get manager(): { nc: NatsConnection; jsm: JetStreamManager } | undefined {
    return this.client.handles;
  }

  /** Forgets what this process knows of a stream's last seq (its state was erased). */
  forget(stream: string): void {
    this.held.delete(stream);
  }

  get duplicateCount(): number {
    return this.dups;
  }

  /** Connects, checks or creates the stream and the state bucket; refuses to start when it cannot. */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    const cfg = this.cfg;
    const { nc, jsm } = await this.client.open();
    try {
      await ensureStream(jsm, cfg, this.logger);
      const kv = await stateBucket(nc, cfg);
      // One reply per publish only from a stream of one replica (see publisher.ts).
      const publisher = new PubAckPublisher(nc, PUBLISH_TIMEOUT_MS, {
        reuseReplies: cfg.natsReplicas === 1,
      });
      this.publisher = publisher;
      this.client.onDisconnect((err) => publisher.failPending(err));
      // KV writes are compare-and-set on the key's revision, coalesced (one per stream in flight),
      // and go through the pipelined publisher: the KV client's update costs a request each. While
      // disconnected one fails at once: the client would buffer it, and its PubAck, lost with the
      // connection, would fail it only at the timeout, seconds after the service is ready again (a
      // refusal while healthy).
      const bucket = `$KV.${cfg.natsStream}_streams.`;
      this.state = new NatsStreamState(
        kv,
        (request) => this.client.guard(request),
        cfg.streamStateMax,
        Date.now,
        (key, value, revision) =>
          this.client.disconnected
            ? Promise.reject(new Error('NATS disconnected'))
            : publisher.compareAndSet(bucket + key, value, revision),
      );
    } catch (err) {
      this.publisher?.close();
      await this.client.close();
      throw err;
    }
    this.logger.info(
      {
        nats: this.client.servers,
        stream: cfg.natsStream,
        subject: cfg.natsSubject,
        replicas: cfg.natsReplicas,
      },
      'NATS connected; publishing to stream %s',
      cfg.natsStream,
    );
  }

  /** Shutdown: fails what still waits for a PubAck (the connection drains in connection.ts). */
  onApplicationShutdown(): void {
    this.publisher?.close();
  }

  /** Streams in the KV bucket (a stream info request, not a listing of keys). */
  override countStates(): Promise<number> {
    if (this.down || this.state === undefined) return Promise.reject(new Error('NATS unavailable'));
    return this.state.count();
  }

  /** The stream's last seq from the KV bucket (0 when unknown); rejects when NATS cannot answer. */
  async lastSeq(stream: string): Promise<number> {
    // During an outage at once (the connection is closed with 1013), not after a request timeout.
    if (this.down) throw new Error('NATS unavailable');
    const seq = await this.state!.lastSeq(stream);
    this.remember(stream, seq);
    return seq;
  }

  /**
   * Each entry's `after` is checked when its batch is recorded, which happens in the order the
   * batches came (after the earlier batch's outcomes are decided): see append().
   */
  override get pipelined(): boolean {
    return true;
  }

  /**
   * A batch: (1) decide per entry, against what this process knows the log holds (`held`, or the
   * KV bucket when it knows nothing of the stream) and what earlier batches in flight send
   * (`after`), whether it is new or a duplicate; (2) publish the new ones, pipelined; (3) once
   * every earlier batch is recorded, record this one in frame order: an entry after a FAILED one of
   * its stream is FAILED too, and so is every entry of a stream whose earlier batch did not get
   * its seqs into the log (held < after); then (4) the highest seq stored per stream goes to KV
   * before any of it is acked. Step 3 of the next batch does not wait for this one's KV writes,
   * so writes to one key coalesce across the batches in flight (NatsStreamState).
   */
  async append(entries: readonly SinkEntry[], store: boolean): Promise<AppendOutcome[]> {
    // Claimed before any await, so batches are recorded in the order append() was called.
    const previous = this.recorded;
    let recorded!: () => void;
    this.recorded = new Promise((resolve) => (recorded = resolve));
    const streams = new Set<string>();
    for (const entry of entries) if (entry.stream !== '') streams.add(entry.stream);
    for (const stream of streams) this.pinned.set(stream, (this.pinned.get(stream) ?? 0) + 1);
    try {
      // What the log is known to hold of each stream, read once, in order of first entry.
      const known = new Map<string, number>();
      for (const stream of streams) known.set(stream, await this.knownSeq(stream));
      // An earlier batch in flight sends seqs up to `after`: taken as held here, its baseline
      // checked in step 3 (the rules are batch-decision.ts's).
      const outcomes = planBatch(
        entries,
        (stream, after) => {
          const held = known.get(stream)!;
          return held < 0 ? UNREADABLE : Math.max(held, after);
        },
        this.cfg.maxSeqGap,
      );
      const indexes: number[] = [];
      if (store) for (let i = 0; i < entries.length; i++) if (outcomes[i] >= 0) indexes.push(i);
      if (indexes.length > 0) await this.publishAll(entries, indexes, outcomes);
      await previous;
      const writes = this.record(entries, indexes, outcomes);
      recorded();
      await writes;
      return outcomes;
    } finally {
      recorded();
      for (const stream of streams) {
        const n = this.pinned.get(stream)! - 1;
        if (n === 0) this.pinned.delete(stream);
        else this.pinned.set(stream, n);
      }
    }
  }

  /**
   * Publishes the entries at `indexes`, in order, and resolves once every one has its verdict: a
   * failed publish makes its outcome FAILED, a PubAck with duplicate: true DUPLICATE (resumable
   * entries). One promise per batch, a callback per publish: this runs for every event.
   */
  private publishAll(
    entries: readonly SinkEntry[],
    indexes: number[],
    outcomes: AppendOutcome[],
  ): Promise<void> {
    return new Promise((resolve) => {
      const batch = new PublishBatch(this.published, entries, outcomes, indexes.length, resolve);
      const now = performance.now();
      for (const index of indexes) this.publish(batch, index, now);
    });
  }

  /**
   * Step 3 (synchronous, every earlier batch recorded): in frame order per stream, nothing after a
   * FAILED entry counts (it is FAILED too, and JetStream dedupes it on resend), nor anything of a
   * stream an earlier batch failed; `held` takes the highest seq published. Returns step 4: the
   * KV writes, which fail their stream's entries when they fail.
   */
  private record(
    entries: readonly SinkEntry[],
    published: readonly number[],
    outcomes: AppendOutcome[],
  ): Promise<unknown> {
    const isPublished = new Uint8Array(entries.length);
    for (const i of published) isPublished[i] = 1;
    // An earlier batch that did not get its seqs into the log (held < after) fails the stream.
    spreadFailures(
      entries,
      outcomes,
      (stream, after) => baseline(this.held.get(stream) ?? 0, after) === UNREADABLE,
    );
    /** Per stream, the highest seq published or answered duplicate before its first failure: in the log. */
    const highest = new Map<string, number>();
    entries.forEach((entry, i) => {
      const stream = entry.stream;
      if (
        stream !== '' &&
        outcomes[i] !== FAILED &&
        (isPublished[i] === 1 || outcomes[i] === DUPLICATE) &&
        entry.seq > (highest.get(stream) ?? 0)
      )
        // Stored, or a duplicate of a seq the log holds (published, PubAck'd, or below `after`,
        // checked above): KV covers it before it is answered, so no other instance, and no
        // restart, ever sees a last_seq below a confirmed seq.
        highest.set(stream, entry.seq);
    });
    if (highest.size === 0) return Promise.resolve();
    for (const [stream, seq] of highest) this.remember(stream, seq);
    return this.state!.recordAll(highest).then((failedWrites) => {
      if (failedWrites.length === 0) return;
      this.outage('NATS stream state (KV) write failed; answering "Service unavailable"');
      const unwritten = new Set(failedWrites);
      entries.forEach((entry, i) => {
        if (unwritten.has(entry.stream)) outcomes[i] = FAILED;
      });
    });
  }

  /**
   * The highest seq of a stream the log is known to hold: what this process published, and what the
   * KV bucket held when this process last saw it, if that was under half the duplicate window ago;
   * otherwise the bucket is read again (-1 when it cannot be). Another instance may have stored
   * more of the stream since: its publishes are then younger than the duplicate window, so JetStream
   * answers a resend of them "duplicate" (its KV write follows its PubAck at once). A view older than
   * that could let a resend past the window be stored twice, so it is never trusted.
   */
  private async knownSeq(stream: string): Promise<number> {
    const fresh = this.state!.seenSince(stream, Date.now() - this.freshMs);
    if (fresh !== undefined) {
      // What KV proves the log holds counts as held: a later batch's `after` is checked against it.
      this.remember(stream, fresh);
      return this.held.get(stream)!;
    }
    try {
      await this.lastSeq(stream);
      return this.held.get(stream) ?? 0;
    } catch (err) {
      this.outage('NATS stream state (KV) unreadable; answering "Service unavailable"', err as Error);
      return -1;
    }
  }

  /** Raises what this process knows the log holds of a stream (never lowers it); LRU-bounded. */
  private remember(stream: string, seq: number): void {
    const before = this.held.get(stream) ?? 0;
    this.held.delete(stream);
    this.held.set(stream, Math.max(before, seq));
    if (this.held.size <= this.cfg.streamStateMax) return;
    // The oldest stream no batch in flight holds: a batch's `after` is checked against `held`.
    for (const key of this.held.keys()) {
      if (this.pinned.has(key)) continue;
      this.held.delete(key);
      return;
    }
  }

  /** One publish, in order, once a slot is free. `now` is performance.now(), read once per batch. */
  private publish(batch: PublishBatch, index: number, now: number): void {
    if (this.inFlight >= MAX_IN_FLIGHT || this.queued.length > 0) this.queued.push({ batch, index });
    else this.start(batch, index, now);
  }

  /** Starts queued publishes while slots are free. */
  private pump(): void {
    if (this.queued.length === 0) return;
    const now = performance.now();
    while (this.inFlight < MAX_IN_FLIGHT && this.queued.length > 0) {
      const { batch, index } = this.queued.shift()!;
      this.start(batch, index, now);
    }
  }

  private start(batch: PublishBatch, index: number, now: number): void {
    if (this.down) return batch.decide(index, 'failed');
    this.inFlight++;
    const entry = batch.entries[index];
    const base = entry.quarantine === undefined ? this.cfg.natsSubject : this.quarantineSubject;
    const subject = this.perSubject && entry.subject ? `${base}.${natsSubjectTokens(entry.subject)}` : base;
    this.publisher!.publish(
      subject,
      natsHeaderBlock(entry, this.policy.version),
      entry.data,
      now,
      batch,
      index,
    );
  }

  /** Every publish's PubAck (or failure), before its batch hears of it: slots, metrics, outages. */
  private readonly published = (outcome: PublishOutcome, at: number, error?: Error): void => {
    this.inFlight--;
    if (outcome === 'failed') {
      this.errors++;
      this.outage('NATS publish failed; answering "Service unavailable"', error);
    } else {
      this.publishLatency!.observe((performance.now() - at) / 1000);
      if (outcome === 'duplicate') this.dups++;
    }
    this.pump();
  };

  /** Starts an outage (connection.ts: one warning for the whole of it, and the probe that ends it). */
  private outage(message: string, err?: Error): void {
    this.client.outage(message, err);
  }
}

/** One append's publishes: each sets its entry's outcome; the batch resolves once all have. */
class PublishBatch implements PublishListener {
  private left: number;

  constructor(
    private readonly published: (outcome: PublishOutcome, at: number, error?: Error) => void,
    readonly entries: readonly SinkEntry[],
    private readonly outcomes: AppendOutcome[],
    count: number,
    private readonly resolve: () => void,
  ) {
    this.left = count;
  }

  settled(index: number, outcome: PublishOutcome, at: number, error?: Error): void {
    this.published(outcome, at, error);
    this.decide(index, outcome);
  }

  /** A failed publish makes its outcome FAILED; a PubAck with duplicate: true DUPLICATE (resumable). */
  decide(index: number, outcome: PublishOutcome): void {
    if (outcome === 'failed') this.outcomes[index] = FAILED;
    else if (outcome === 'duplicate' && this.entries[index].stream !== '') this.outcomes[index] = DUPLICATE;
    if (--this.left === 0) this.resolve();
  }
}
