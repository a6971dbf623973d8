// Cluster-wide counts: every second each instance writes its counters to Redis under a key that
// expires in 3 s, and sums the live instances' counters. An instance that stops heartbeating drops
// out of the totals within 5 s. Without Redis (or while it is down) the totals are this instance's.
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { RedisService } from '../redis/redis.service.js';
import { type InstanceSummary, type StreamStats } from '../protocol/index.js';
import { StreamService } from '../stream/stream.service.js';
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
  /** Present when Redis is configured: every live instance, this one included, by id. */
  members?: InstanceSummary[];
  /** Events per flow-map node since start: the cluster's with Redis, else this process's. */
  nodes: Record<string, number>;
}

/** The cluster's node counts expire this long after the last instance stopped heartbeating. */
const NODES_TTL_MS = 10_000;

const summary = (id: string, s: StreamStats): InstanceSummary => ({
  id,
  active_connections: s.active_connections,
  total_messages: s.total_messages,
  messages_per_second: s.messages_per_second,
});

@Injectable()
export class ClusterStatsService implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  /** The other live instances' counters summed, as of the last heartbeat. */
  private latest?: {
    others: StreamStats;
    instances: number;
    members: InstanceSummary[];
    nodes: Record<string, number>;
    at: number;
  };
  /** This instance's node counts already added to the cluster's hash. */
  private pushedNodes: Record<string, number> = {};

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
    const ownNodes = this.stream.nodeCounts();
    if (!this.redis.enabled) return { totals: own, instances: 1, nodes: ownNodes };
    const instance = { id: INSTANCE_ID, ...own };
    const latest = this.latest;
    if (latest === undefined || Date.now() - latest.at > STALE_MS) {
      return { totals: own, instances: 1, instance, members: [summary(INSTANCE_ID, own)], nodes: ownNodes };
    }
    const totals = { ...own };
    for (const key of Object.keys(totals) as (keyof StreamStats)[]) totals[key] += latest.others[key];
    // The cluster's hash as of the last heartbeat, plus what this instance counted since.
    const nodes: Record<string, number> = {};
    for (const [id, count] of Object.entries(ownNodes)) {
      nodes[id] = (latest.nodes[id] ?? 0) + count - (this.pushedNodes[id] ?? 0);
    }
    const members = latest.members.map((m) => (m.id === INSTANCE_ID ? summary(INSTANCE_ID, own) : m));
    return { totals, instances: latest.instances, instance, members, nodes };
  }

  /**
   * Whether another live instance has a monitor open, as of the last heartbeat. True while that is
   * unknown (no heartbeat yet, or none recent: Redis down), so the bus errs on the side of publishing.
   */
  othersMonitoring(): boolean {
    const latest = this.latest;
    return latest === undefined || Date.now() - latest.at > STALE_MS || latest.others.active_monitors > 0;
  }

  async heartbeat(): Promise<void> {
    const client = this.redis.client;
    if (client === undefined || !this.redis.ready) return;
    const setKey = this.redis.key('instances');
    const own = this.stream.stats();
    const ownNodes = this.stream.nodeCounts();
    const nodesKey = this.redis.key('nodes');
    try {
      const tx = client
        .multi()
        .set(this.instanceKey(INSTANCE_ID), JSON.stringify(own), 'PX', TTL_MS)
        .sadd(setKey, INSTANCE_ID);
      for (const [id, count] of Object.entries(ownNodes)) {
        const delta = count - (this.pushedNodes[id] ?? 0);
        if (delta !== 0) tx.hincrby(nodesKey, id, delta);
      }
      const results = await tx.pexpire(nodesKey, NODES_TTL_MS).hgetall(nodesKey).exec();
      const failed = results?.find(([err]) => err !== null);
      if (results === null || failed) throw failed?.[0] ?? new Error('transaction aborted');
      this.pushedNodes = ownNodes;
      const nodes: Record<string, number> = {};
      for (const [id, count] of Object.entries(results.at(-1)![1] as Record<string, string>)) {
        nodes[id] = Number(count);
      }
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
        resumes: 0,
      };
      let instances = 1;
      const members: InstanceSummary[] = [summary(INSTANCE_ID, own)];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const value = values[i];
        if (value === null) return gone.push(id);
        if (id === INSTANCE_ID) return;
        const other = JSON.parse(value) as StreamStats;
        instances++;
        members.push(summary(id, other));
        for (const key of Object.keys(others) as (keyof StreamStats)[]) others[key] += other[key] ?? 0;
      });
      if (gone.length > 0) await client.srem(setKey, ...gone);
      members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.latest = { others, instances, members, nodes, at: Date.now() };
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'Cluster heartbeat failed');
    }
  }

  private instanceKey(id: string): string {
    return this.redis.key(`instance:${id}`);
  }
}
