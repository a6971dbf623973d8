// The Redis bus: each instance publishes its monitor events once per flush on `<prefix>events`,
// and every instance hands other instances' batches to its MonitorGateway. Without Redis it does
// nothing and monitors see this process's events only (which is then all of them). It also carries
// stream takeovers on `<prefix>streams`: a resumable connection opened on one instance closes the
// older connection of that stream on the others (4001), and on `<prefix>monitors` the opening of an
// instance's first monitor, so the others publish every event again at once (see MonitorFanout).
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

/** A resumable connection for `stream` opened on another instance at `openedAt` (ms). */
export interface Takeover {
  stream: string;
  openedAt: number;
  /** The subject of that connection (JWT mode; '' under static tokens): only its own may take over. */
  sub: string;
}

@Injectable()
export class BusService implements OnModuleInit, OnModuleDestroy {
  readonly remote$ = new Subject<RemoteBatch>();
  readonly takeovers$ = new Subject<Takeover>();
  /** Another instance opened its first monitor. */
  readonly watchers$ = new Subject<void>();
  private publishErrors = 0;
  private readonly channel: string;
  private readonly streamsChannel: string;
  private readonly monitorsChannel: string;

  constructor(
    private readonly redis: RedisService,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    logger.setContext(BusService.name);
    this.channel = redis.key('events');
    this.streamsChannel = redis.key('streams');
    this.monitorsChannel = redis.key('monitors');
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
      else if (channel === this.streamsChannel) this.receiveTakeover(message);
      else if (channel === this.monitorsChannel && message !== INSTANCE_ID) this.watchers$.next();
    });
    // ioredis re-subscribes by itself after every reconnect.
    subscriber
      .subscribe(this.channel, this.streamsChannel, this.monitorsChannel)
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'Subscribe failed'));
  }

  onModuleDestroy(): void {
    this.remote$.complete();
    this.takeovers$.complete();
    this.watchers$.complete();
  }

  /** Tells the other instances that this one opened its first monitor. Best effort, as announceStream. */
  announceMonitor(): void {
    const client = this.redis.client;
    if (client === undefined || !this.redis.ready) return;
    client.publish(this.monitorsChannel, INSTANCE_ID).catch(() => undefined);
  }

  /**
   * Tells the other instances that a resumable connection for `stream` opened here. Best effort:
   * while Redis is down nobody hears it, and the seq check alone keeps two connections apart.
   */
  announceStream(stream: string, openedAt: number, sub = ''): void {
    const client = this.redis.client;
    if (client === undefined || !this.redis.ready) return;
    client
      .publish(this.streamsChannel, `${INSTANCE_ID}\n${openedAt}\n${stream}\n${sub}`)
      .catch(() => undefined);
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

  private receiveTakeover(message: string): void {
    const first = message.indexOf('\n');
    const second = message.indexOf('\n', first + 1);
    if (first < 0 || second < 0 || message.slice(0, first) === INSTANCE_ID) return;
    const openedAt = Number(message.slice(first + 1, second));
    if (!Number.isSafeInteger(openedAt)) return;
    // The subject after the stream (ids and subjects hold no newline); '' under static tokens.
    const rest = message.slice(second + 1);
    const third = rest.indexOf('\n');
    const stream = third < 0 ? rest : rest.slice(0, third);
    const sub = third < 0 ? '' : rest.slice(third + 1);
    this.takeovers$.next({ stream, openedAt, sub });
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
