// RETENTION_MAX_AGE_S on Redis Streams: once a second, entries older than the age are deleted with
// XTRIM MINID <now - age>. Legal retention wins over consumers: entries a consumer group has not
// read (undelivered or pending) are deleted too, and that is logged and counted
// (cbsa_retention_deleted_unread_total). On NATS the stream's max_age is this setting (a config
// rule makes NATS_MAX_AGE_S equal it) and nats-server deletes; sink/nats/retention.ts counts.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { compareIds } from '../sink/stream-retention.service.js';

const POLL_MS = 1000;
/** Entries counted per XRANGE/XPENDING call while counting unread ones. */
const COUNT_STEP = 10_000;

@Injectable()
export class AgeRetention implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running = false;
  private deleted = 0;
  private deletedUnread = 0;
  private readonly keys: string[];

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly redis: RedisService,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    logger.setContext(AgeRetention.name);
    this.keys = [redis.key('stream'), redis.key('quarantine')];
    // One definition of the counters for both engines (NATS: sink/nats/retention.ts adds to them).
    if (!this.enabled && !(cfg.sink === 'nats' && cfg.retentionMaxAgeS > 0)) return;
    metrics.counter(
      'cbsa_retention_deleted_total',
      'Log entries deleted for being older than RETENTION_MAX_AGE_S',
      () => this.deleted,
    );
    metrics.counter(
      'cbsa_retention_deleted_unread_total',
      'Of those, entries some consumer group (NATS: durable consumer) had not read (undelivered or pending)',
      () => this.deletedUnread,
    );
  }

  /** Deletions found by another engine's retention (NATS). */
  add(deleted: number, unread: number): void {
    this.deleted += deleted;
    this.deletedUnread += unread;
  }

  get enabled(): boolean {
    return this.cfg.retentionMaxAgeS > 0 && this.cfg.sink === 'redis-stream' && this.redis.enabled;
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async poll(now = Date.now()): Promise<void> {
    const client = this.redis.client;
    if (this.running || client === undefined || !this.redis.ready) return;
    this.running = true;
    const minId = `${Math.max(0, now - this.cfg.retentionMaxAgeS * 1000)}-0`;
    try {
      for (const key of this.keys) {
        const unread = await this.unreadBefore(key, minId);
        const n = await client.xtrim(key, 'MINID', minId);
        this.deleted += n;
        if (unread > 0) {
          this.deletedUnread += unread;
          this.logger.warn(
            { key, unread, deleted: n, retention_s: this.cfg.retentionMaxAgeS },
            'Retention deleted %d entries a consumer group had not read',
            unread,
          );
        }
      }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'Retention by age failed; trying again');
    } finally {
      this.running = false;
    }
  }

  /**
   * Entries older than `minId` that some group has not read: per group, those never delivered plus
   * those pending; the largest over the groups (an entry unread by two groups counts once).
   */
  private async unreadBefore(key: string, minId: string): Promise<number> {
    const client = this.redis.client!;
    const first = (await client.xrange(key, '-', '+', 'COUNT', 1)) as [string, string[]][];
    if (first.length === 0 || compareIds(first[0][0], minId) >= 0) return 0;
    const raw = (await client.xinfo('GROUPS', key)) as unknown[][];
    let most = 0;
    for (const fields of raw) {
      const g: Record<string, unknown> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) g[String(fields[i])] = fields[i + 1];
      const name = String(g.name);
      const lastDelivered = typeof g['last-delivered-id'] === 'string' ? g['last-delivered-id'] : '0-0';
      let unread = 0;
      if (compareIds(lastDelivered, minId) < 0) {
        unread += await this.count(
          (from) => client.xrange(key, from, `(${minId}`, 'COUNT', COUNT_STEP),
          `(${lastDelivered}`,
        );
      }
      if (Number(g.pending ?? 0) > 0) {
        unread += await this.count(
          (from) =>
            client.xpending(key, name, from, `(${minId}`, COUNT_STEP) as Promise<[string, ...unknown[]][]>,
          '-',
        );
      }
      most = Math.max(most, unread);
    }
    return most;
  }

  /** Counts the rows a ranged read returns, page by page (each row starts with its entry id). */
  private async count(
    read: (from: string) => Promise<[string, ...unknown[]][]>,
    from: string,
  ): Promise<number> {
    let n = 0;
    for (;;) {
      const rows = await read(from);
      n += rows.length;
      if (rows.length < COUNT_STEP) return n;
      from = `(${rows[rows.length - 1][0]}`;
    }
  }
}
