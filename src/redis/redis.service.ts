// The Redis connections (ioredis) when REDIS_URL is set; absent otherwise, and the service runs
// in one process exactly as without Redis. Commands fail fast while Redis is unreachable (no
// offline queue), so nothing piles up in memory during an outage.
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Redis, type RedisOptions } from 'ioredis';
import { PinoLogger } from 'nestjs-pino';
import { Subject } from 'rxjs';
import { appConfig } from '../config/app.config.js';
import { redactUrl } from '../config/redact.js';

@Injectable()
export class RedisService implements OnModuleDestroy {
  /** Commands (publish, heartbeats, id leases, stream appends). */
  readonly client: Redis | undefined;
  /** Subscriptions need a connection of their own. */
  readonly subscriber: Redis | undefined;
  /** Emits each time the command connection becomes ready (first connect and every recovery). */
  readonly ready$ = new Subject<void>();
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
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    };
    this.client = new Redis(cfg.redisUrl, options);
    this.subscriber = new Redis(cfg.redisUrl, { ...options, enableOfflineQueue: true });
    this.client.on('ready', () => this.up());
    for (const connection of [this.client, this.subscriber]) {
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

  onModuleDestroy(): void {
    this.ready$.complete();
    this.client?.disconnect();
    this.subscriber?.disconnect();
  }

  private up(): void {
    this.logger.info(
      { redis: redactUrl(this.cfg.redisUrl) },
      this.warned ? 'Redis connection restored' : 'Redis connected',
    );
    this.warned = false;
    this.ready$.next();
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
