// Cluster-wide counts: every second each instance writes its counters to Redis under a key that
// expires in 3 s, and sums the live instances' counters. An instance that stops heartbeating drops
// out of the totals within 5 s. Without Redis (or while it is down) the totals are this instance's.
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { RedisService } from '../redis/redis.service.js';
import { StreamService, type StreamStats } from '../stream/stream.service.js';
import { INSTANCE_ID } from './instance-id.js';

const HEARTBEAT_MS = 1000;
const TTL_MS = 3000;
/** Cluster totals older than this are not trusted; this instance's own counts are reported instead. */
const STALE_MS = 2500;

export interface ClusterView {
  totals: StreamStats;
  instances: number;
  /** Present when Redis is configured: this instance's own counts. */
  instance?: StreamStats & { id: string };
}

@Injectable()
export class ClusterStatsService implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  /** The other live instances' counters summed, as of the last heartbeat. */
  private latest?: { others: StreamStats; instances: number; at: number };

  constructor(
    private readonly redis: RedisService,
    private readonly stream: StreamService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(ClusterStatsService.name);
  }

  onModuleInit(): void {
    if (!this.redis.enabled) return;
    this.timer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  view(): ClusterView {
    const own = this.stream.stats();
    if (!this.redis.enabled) return { totals: own, instances: 1 };
    const instance = { id: INSTANCE_ID, ...own };
    if (this.latest === undefined || Date.now() - this.latest.at > STALE_MS) {
      return { totals: own, instances: 1, instance };
    }
    const totals = { ...own };
    for (const key of Object.keys(totals) as (keyof StreamStats)[]) totals[key] += this.latest.others[key];
    return { totals, instances: this.latest.instances, instance };
  }

  async heartbeat(): Promise<void> {
    const client = this.redis.client;
    if (client === undefined || !this.redis.ready) return;
    const setKey = this.redis.key('instances');
    const own = this.stream.stats();
    try {
      await client
        .multi()
        .set(this.instanceKey(INSTANCE_ID), JSON.stringify(own), 'PX', TTL_MS)
        .sadd(setKey, INSTANCE_ID)
        .exec();
      const ids = await client.smembers(setKey);
      const values = ids.length > 0 ? await client.mget(ids.map((id) => this.instanceKey(id))) : [];
      const others: StreamStats = {
        active_connections: 0,
        active_monitors: 0,
        total_messages: 0,
        total_errors: 0,
        messages_per_second: 0,
        total_duplicates: 0,
        total_gaps: 0,
      };
      let instances = 1;
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const value = values[i];
        if (value === null) return gone.push(id);
        if (id === INSTANCE_ID) return;
        const other = JSON.parse(value) as StreamStats;
        instances++;
        for (const key of Object.keys(others) as (keyof StreamStats)[]) others[key] += other[key] ?? 0;
      });
      if (gone.length > 0) await client.srem(setKey, ...gone);
      this.latest = { others, instances, at: Date.now() };
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'Cluster heartbeat failed');
    }
  }

  private instanceKey(id: string): string {
    return this.redis.key(`instance:${id}`);
  }
}
