// The Redis connections (ioredis) when REDIS_URL is set; absent otherwise, and the service runs
// in one process exactly as without Redis. Commands fail fast while Redis is unreachable (no
// offline queue), so nothing piles up in memory during an outage.
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Redis, type RedisOptions } from 'ioredis';
import { PinoLogger } from 'nestjs-pino';
import { Subject } from 'rxjs';
import { appConfig } from '../config/app.config.js';
import { redactUrl } from '../config/redact.js';

@Injectable()
export class RedisService implements OnApplicationShutdown {
  /** Commands (publish, heartbeats, id leases): never behind sink traffic. */
  readonly client: Redis | undefined;
  /**
   * The sink's own connection (stream appends, seq state). In-flight commands are never resent after a
   * reconnect (a resent append would be stored twice), and every command times out.
   */
  readonly sink: Redis | undefined;
  /** Subscriptions need a connection of their own. */
  readonly subscriber: Redis | undefined;
  /** Emits each time the command connection becomes ready (first connect and every recovery). */
  readonly ready$ = new Subject<void>();
  /** Emits each time the sink connection becomes ready. */
  readonly sinkReady$ = new Subject<void>();
  private warned = false;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(RedisService.name);
    if (cfg.redisUrl === undefined) return;
    const options: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: cfg.redisCommandTimeoutMs,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    };
    this.client = new Redis(cfg.redisUrl, options);
    this.sink = new Redis(cfg.redisUrl, { ...options, maxRetriesPerRequest: 0 });
    // Subscriptions are re-established after a reconnect; they carry no timeout (they wait by design).
    this.subscriber = new Redis(cfg.redisUrl, {
      ...options,
      enableOfflineQueue: true,
      commandTimeout: undefined,
      autoResendUnfulfilledCommands: true,
    });
    this.client.on('ready', () => this.up());
    this.sink.on('ready', () => this.sinkReady$.next());
    for (const connection of [this.client, this.subscriber, this.sink]) {
      connection.on('error', (err: Error) => this.down(err));
      connection.on('close', () => this.down());
    }
  }

  get enabled(): boolean {
    return this.client !== undefined;
  }

  get ready(): boolean {
    return this.client?.status === 'ready';
  }

  key(name: string): string {
    return this.cfg.redisPrefix + name;
  }

  /** Whether the sink connection is up. */
  get sinkReady(): boolean {
    return this.sink?.status === 'ready';
  }

  /** Last in the shutdown: after the sink has drained and the sockets are closed. */
  onApplicationShutdown(): void {
    this.ready$.complete();
    this.sinkReady$.complete();
    this.client?.disconnect();
    this.subscriber?.disconnect();
    this.sink?.disconnect();
  }

  private up(): void {
    this.logger.info(
      { redis: redactUrl(this.cfg.redisUrl) },
      this.warned ? 'Redis connection restored' : 'Redis connected',
    );
    this.warned = false;
    this.ready$.next();
    void this.checkEviction();
  }

  /**
   * Warns when Redis may evict keys under memory pressure: the seq states, the stream and the id
   * slots are keys, and an evicted one loses evidence or resume state silently. Checked at each
   * (re)connect, since a restarted Redis may come back with another configuration.
   */
  private async checkEviction(): Promise<void> {
    let policy: string | undefined;
    try {
      // INFO, not CONFIG GET: a least-privilege ACL user has INFO, and CONFIG GET can read secrets.
      policy = /^maxmemory_policy:(\S+)/m.exec(await this.client!.info('memory'))?.[1];
    } catch (err) {
      // Say it cannot be checked, once per connect.
      this.logger.info({ err: (err as Error).message }, 'Redis maxmemory-policy could not be read');
      return;
    }
    if (policy === undefined || policy === 'noeviction') return;
    this.logger.warn(
      { redis: redactUrl(this.cfg.redisUrl), maxmemoryPolicy: policy },
      'Redis maxmemory-policy is %s: under memory pressure Redis may evict stream states, stream entries and id slots; set it to noeviction',
      policy,
    );
  }

  /** One warning per outage, however many errors and reconnect attempts it takes. */
  private down(err?: Error): void {
    if (this.warned || this.client?.status === 'ready') return;
    this.warned = true;
    this.logger.warn(
      { redis: redactUrl(this.cfg.redisUrl), err: err?.message },
      'Redis unreachable; retrying',
    );
  }
}
