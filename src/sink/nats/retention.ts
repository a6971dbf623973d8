// RETENTION_MAX_AGE_S on NATS: the stream's max_age, applied by nats-server itself. This counts what
// it deleted that a durable consumer had not read. Once a second it reads every durable consumer's
// position, then the stream's first seq; entries between the first seq seen before and the new one
// are gone, and each consumer's position seen before says which of them it had not read.
//
// The last snapshot lives in the KV bucket `<NATS_STREAM>_retention` and moves on only by
// compare-and-set, so each deletion is counted once, by whichever instance moved it on: across
// restarts and instances the counts add up, with no instance counting what another counted.
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { StorageType } from '@nats-io/jetstream';
import type { ConsumerInfo } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { PinoLogger } from 'nestjs-pino';
import { appConfig } from '../../config/app.config.js';
import { AgeRetention } from '../../privacy/age-retention.service.js';
import { NatsSink } from './log.js';

const POLL_MS = 1000;
const KEY = 'snapshot';

/** A durable consumer's position when last seen (stream seqs). */
export interface ConsumerPosition {
  /** Every entry at or below it is acknowledged (AckNone: delivered). */
  floor: number;
  /** The last entry delivered. */
  delivered: number;
  /** Delivered and not acknowledged. */
  ackPending: number;
  /** Matching its filter and not delivered yet. */
  pending: number;
}

/** The stream and its durable consumers when last seen; what the bucket holds. */
export interface RetentionSnapshot {
  /** The oldest entry the stream may hold (its first seq; 1 for a new stream). */
  first: number;
  last: number;
  /** Entries missing between first and last (erased ones). */
  gaps: number;
  consumers: Record<string, ConsumerPosition>;
}

export interface Deletions {
  /** Entries that left the head of the stream. */
  deleted: number;
  /** Of those, the most some durable consumer had not read. */
  unread: number;
  /** Per consumer that had not read some of them. */
  byConsumer: Record<string, number>;
}

/** A snapshot from the stream's state and its consumers' infos. */
export function snapshotOf(
  state: { first_seq: number; last_seq: number; num_deleted?: number },
  consumers: readonly ConsumerInfo[],
): RetentionSnapshot {
  const positions: Record<string, ConsumerPosition> = {};
  for (const c of consumers) {
    // Ephemeral consumers come and go with their client; only durable ones are readers to account for.
    if (c.config.durable_name === undefined) continue;
    positions[c.name] = {
      floor: c.ack_floor.stream_seq,
      delivered: c.delivered.stream_seq,
      ackPending: c.num_ack_pending,
      pending: c.num_pending,
    };
  }
  return {
    first: Math.max(1, state.first_seq),
    last: state.last_seq,
    gaps: state.num_deleted ?? 0,
    consumers: positions,
  };
}

/**
 * What left the head of the stream between two snapshots, judged by each consumer's position in
 * `before` (a consumer's position after the deletion cannot tell: JetStream treats a deleted pending
 * entry as acknowledged). A consumer that did not exist before counts nothing; an entry unread by two
 * consumers counts once (the largest count). Bounds that keep counts honest where positions alone
 * would over-count: a consumer's pending and ack-pending counts (filtered consumers, acks out of
 * order), and the entries that existed (erased ones are gaps).
 */
export function deletionsBetween(before: RetentionSnapshot, now: RetentionSnapshot): Deletions {
  const none: Deletions = { deleted: 0, unread: 0, byConsumer: {} };
  // A stream deleted and created again starts over.
  if (now.first <= before.first || now.last < before.last) return none;
  const span = now.first - before.first;
  // Gaps at the head in `before` that moved out of the stream were not entries; new gaps may hide
  // some, so this is at most what existed.
  const deleted = Math.max(0, span - Math.max(0, before.gaps - now.gaps));
  const range = (from: number, to: number) => Math.max(0, to - from);
  let unread = 0;
  const byConsumer: Record<string, number> = {};
  for (const [name, c] of Object.entries(before.consumers)) {
    if (now.consumers[name] === undefined) continue;
    // Not delivered: those it knew of (bounded by its pending count), and those appended since.
    const undeliveredFrom = Math.max(before.first, c.delivered + 1);
    const known = Math.min(range(undeliveredFrom, Math.min(now.first, before.last + 1)), c.pending);
    const appended = range(Math.max(undeliveredFrom, before.last + 1), now.first);
    // Delivered and not acknowledged.
    const unacked = Math.min(
      range(Math.max(before.first, c.floor + 1), Math.min(now.first, c.delivered + 1)),
      c.ackPending,
    );
    const n = Math.min(known + appended + unacked, deleted);
    if (n > 0) byConsumer[name] = n;
    unread = Math.max(unread, n);
  }
  return { deleted, unread, byConsumer };
}

@Injectable()
export class NatsRetention implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running = false;
  private kv?: KV;
  private lastError?: string;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly nats: NatsSink,
    private readonly counts: AgeRetention,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(NatsRetention.name);
  }

  get enabled(): boolean {
    return this.cfg.sink === 'nats' && this.cfg.retentionMaxAgeS > 0;
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    const manager = this.nats.manager;
    if (this.running || manager === undefined || !this.nats.ready) return;
    this.running = true;
    const stream = this.cfg.natsStream;
    try {
      this.kv ??= await new Kvm(manager.nc).create(`${stream}_retention`, {
        replicas: this.cfg.natsReplicas,
        history: 1,
        storage: StorageType.File,
      });
      const stored = await this.kv.get(KEY);
      // Consumers before the stream: a position read before the first seq is read predates every
      // deletion counted against it next time.
      const consumers: ConsumerInfo[] = [];
      for await (const c of manager.jsm.consumers.list(stream)) consumers.push(c);
      const info = await manager.jsm.streams.info(stream);
      const now = snapshotOf(info.state, consumers);
      const value = JSON.stringify(now);
      if (stored === null || stored.operation !== 'PUT') {
        await this.kv.create(KEY, value);
        return;
      }
      if (stored.string() === value) return;
      // Another instance that moved the snapshot on first counted this step; this one skips it.
      await this.kv.update(KEY, value, stored.revision);
      const found = deletionsBetween(stored.json<RetentionSnapshot>(), now);
      this.counts.add(found.deleted, found.unread);
      if (found.unread > 0) {
        this.logger.warn(
          {
            stream,
            unread: found.unread,
            deleted: found.deleted,
            consumers: found.byConsumer,
            retention_s: this.cfg.retentionMaxAgeS,
          },
          'Retention deleted %d entries a durable consumer had not read (%s)',
          found.unread,
          Object.keys(found.byConsumer).join(', '),
        );
      }
      this.lastError = undefined;
    } catch (err) {
      const message = (err as Error).message;
      // A lost compare-and-set is routine; a failure that repeats (permissions, say) is worth one warning.
      if (!/wrong last sequence|key exists/i.test(message) && message !== this.lastError) {
        this.logger.warn({ err: message }, 'Counting retention deletions failed; trying again');
      }
      this.lastError = message;
    } finally {
      this.running = false;
    }
  }
}
