// Retention of the Redis Stream, and the figures /metrics exports about it. By default nothing is
// trimmed. With STREAM_MAXLEN set, the stream is trimmed towards that length, but never past the
// slowest consumer group: nothing a group has not acknowledged (pending, or not yet delivered) is
// deleted. Every few seconds it reads XLEN and XINFO GROUPS (lag, pending) for the gauges.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { appConfig } from '../config/app.config.js';
import { RedisService } from '../redis/redis.service.js';

const POLL_MS = 2000;
/** Entries deleted per trim step at most, so one step never blocks Redis for long. */
const TRIM_STEP = 10_000;

export interface GroupFigures {
  name: string;
  lag: number;
  pending: number;
}

/** Stream ids "ms-seq" compared as numbers. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

@Injectable()
export class StreamRetention implements OnModuleInit, OnModuleDestroy {
  length = 0;
  groups: GroupFigures[] = [];
  private timer?: NodeJS.Timeout;
  private readonly key: string;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly redis: RedisService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(StreamRetention.name);
    this.key = redis.key('stream');
  }

  get enabled(): boolean {
    return this.cfg.sink === 'redis-stream' && this.redis.enabled;
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Reads the figures, then trims when STREAM_MAXLEN is set. */
  async poll(): Promise<void> {
    const client = this.redis.client;
    if (client === undefined || !this.redis.ready) return;
    try {
      this.length = await client.xlen(this.key);
      const raw = (this.length > 0 ? await client.xinfo('GROUPS', this.key) : []) as unknown[][];
      const groups = raw.map((fields) => {
        const g: Record<string, unknown> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) g[String(fields[i])] = fields[i + 1];
        return g;
      });
      this.groups = groups.map((g) => {
        const pending = Number(g.pending ?? 0);
        const entriesRead = g['entries-read'] == null ? undefined : Number(g['entries-read']);
        const lag =
          g.lag != null ? Number(g.lag) : entriesRead !== undefined ? this.length - entriesRead : this.length;
        return { name: String(g.name), lag, pending };
      });
      if (this.cfg.streamMaxlen > 0 && this.length > this.cfg.streamMaxlen) await this.trim(groups);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'Stream retention poll failed');
    }
  }

  /** XTRIM MINID to the entry STREAM_MAXLEN from the end, or the slowest group's floor if older. */
  private async trim(groups: Record<string, unknown>[]): Promise<void> {
    const client = this.redis.client!;
    const excess = Math.min(this.length - this.cfg.streamMaxlen, TRIM_STEP);
    const head = (await client.xrange(this.key, '-', '+', 'COUNT', excess + 1)) as [string, string[]][];
    if (head.length <= excess) return;
    let threshold = head[excess][0];
    for (const g of groups) {
      // Entries at or before last-delivered-id and not pending are acknowledged; the oldest pending
      // entry (or the first undelivered one) must stay.
      let floor = typeof g['last-delivered-id'] === 'string' ? g['last-delivered-id'] : '0-0';
      if (Number(g.pending ?? 0) > 0) {
        const summary = (await client.xpending(this.key, String(g.name))) as [number, string | null];
        if (summary[1] !== null) floor = summary[1];
      }
      if (compareIds(floor, threshold) < 0) threshold = floor;
    }
    await client.xtrim(this.key, 'MINID', threshold);
  }
}
