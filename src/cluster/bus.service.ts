// The Redis bus: each instance publishes its monitor events once per flush on `<prefix>events`,
// and every instance hands other instances' batches to its MonitorGateway. Without Redis it does
// nothing and monitors see this process's events only (which is then all of them).
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { Subject } from 'rxjs';
import { MetricsService } from '../metrics/metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { INSTANCE_ID } from './instance-id.js';

/** Serialised events from another instance: `events` is comma-joined event JSON, no brackets. */
export interface RemoteBatch {
  count: number;
  events: string;
}

@Injectable()
export class BusService implements OnModuleInit, OnModuleDestroy {
  readonly remote$ = new Subject<RemoteBatch>();
  private publishErrors = 0;
  private readonly channel: string;

  constructor(
    private readonly redis: RedisService,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    logger.setContext(BusService.name);
    this.channel = redis.key('events');
    metrics.counter(
      'cbsa_redis_publish_errors_total',
      'Monitor batches that could not be published on the Redis bus',
      () => this.publishErrors,
    );
    if (redis.enabled) {
      metrics.gauge(
        'cbsa_bus_up',
        'With REDIS_URL: 1 while the Redis bus is connected, 0 while it is down (acks go on; monitors see only this instance)',
        () => (redis.ready ? 1 : 0),
      );
    }
  }

  get enabled(): boolean {
    return this.redis.enabled;
  }

  onModuleInit(): void {
    const subscriber = this.redis.subscriber;
    if (subscriber === undefined) return;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    // ioredis re-subscribes by itself after every reconnect.
    subscriber
      .subscribe(this.channel)
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'Subscribe failed'));
  }

  onModuleDestroy(): void {
    this.remote$.complete();
  }

  /** One publish per flush (per frame-sized chunk of it). While Redis is down the batch is counted as an error and dropped. */
  publish(events: string, count: number): void {
    const client = this.redis.client;
    if (client === undefined) return;
    if (!this.redis.ready) {
      this.publishErrors++;
      return;
    }
    client.publish(this.channel, `${INSTANCE_ID}\n${count}\n${events}`).catch(() => this.publishErrors++);
  }

  private receive(message: string): void {
    const first = message.indexOf('\n');
    const second = message.indexOf('\n', first + 1);
    if (first < 0 || second < 0 || message.slice(0, first) === INSTANCE_ID) return;
    const count = Number(message.slice(first + 1, second));
    if (!Number.isSafeInteger(count) || count <= 0) return;
    this.remote$.next({ count, events: message.slice(second + 1) });
  }
}
