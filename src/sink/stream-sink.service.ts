// SINK=redis-stream: the durable handoff to the next layer. Events are appended to the Redis Stream
// `<prefix>stream` in batches (one pipeline per event-loop turn), and a frame's ack is written only
// after its append succeeded, so every acked message is in the stream. Every reply on a connection
// goes through this queue in sink mode, which keeps replies in frame order.
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import type { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { type StreamEvent, UNAVAILABLE_ACK, ackFor } from '../stream/stream-event.js';
import { StreamService } from '../stream/stream.service.js';
import { EventSink } from './event-sink.js';

const MAX_BATCH = 2000;

interface Pending {
  socket: WebSocket;
  /** A reply decided already (errors), or the event whose append decides the reply. */
  reply?: string;
  event?: StreamEvent;
  receivedAt: number;
}

@Injectable()
export class StreamSink extends EventSink {
  readonly enabled: boolean;
  private queue: Pending[] = [];
  private busy = false;
  private failures = 0;
  private failing = false;
  private readonly key: string;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly redis: RedisService,
    private readonly stream: StreamService,
    private readonly metrics: MetricsService,
    private readonly logger: PinoLogger,
  ) {
    super();
    logger.setContext(StreamSink.name);
    this.enabled = cfg.sink === 'redis-stream';
    this.key = redis.key('stream');
    redis.ready$.subscribe(() => (this.failing = false));
  }

  get errors(): number {
    return this.failures;
  }

  /** Whether new frames can be taken: Redis is connected and the last append did not fail. */
  get healthy(): boolean {
    return !this.enabled || (this.redis.ready && !this.failing);
  }

  get accepting(): boolean {
    return this.redis.ready;
  }

  reply(socket: WebSocket, reply: string, receivedAt: number): void {
    this.queue.push({ socket, reply, receivedAt });
    this.schedule();
  }

  append(socket: WebSocket, event: StreamEvent, receivedAt: number): void {
    this.queue.push({ socket, event, receivedAt });
    this.schedule();
  }

  private schedule(): void {
    if (this.busy) return;
    this.busy = true;
    setImmediate(() => void this.drain());
  }

  /** One batch at a time, so replies leave in the order frames arrived. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const outcomes = await this.write(batch);
      batch.forEach((item, i) => {
        const event = item.event;
        let reply = item.reply;
        if (reply === undefined && event !== undefined) {
          reply = outcomes[i] === false ? UNAVAILABLE_ACK : ackFor(event);
          if (outcomes[i] === false) this.stream.countUnavailable();
        }
        item.socket.send(reply!);
        if (event?.messageId != null && outcomes[i]) {
          this.metrics.ackLatency.observe((performance.now() - item.receivedAt) / 1000);
        }
      });
    }
    this.busy = false;
  }

  /** Appends the batch's received events; per item, whether its append succeeded (undefined: none needed). */
  private async write(batch: Pending[]): Promise<(boolean | undefined)[]> {
    const client = this.redis.client!;
    const pipeline = client.pipeline();
    const indexes: number[] = [];
    batch.forEach((item, i) => {
      const event = item.event;
      if (event === undefined || event.messageId === null) return;
      indexes.push(i);
      pipeline.xadd(
        this.key,
        'MAXLEN',
        '~',
        this.cfg.streamMaxlen,
        '*',
        'message_id',
        event.messageId,
        'client_id',
        event.clientId,
        'server_timestamp',
        event.timestamp,
        'category',
        event.route.category ?? '',
        'data',
        event.text,
      );
    });
    const outcomes: (boolean | undefined)[] = batch.map(() => undefined);
    if (indexes.length === 0) return outcomes;
    let results: [Error | null, unknown][] | null = null;
    try {
      results = await pipeline.exec();
    } catch {
      results = null;
    }
    let failed = 0;
    indexes.forEach((index, n) => {
      const ok = results !== null && results[n]?.[0] === null;
      outcomes[index] = ok;
      if (!ok) failed++;
    });
    this.failures += failed;
    if (failed > 0 && !this.failing)
      this.logger.warn({ failed }, 'Stream append failed; answering "Service unavailable"');
    if (failed === 0 && this.failing) this.logger.info('Stream appends succeed again');
    this.failing = failed > 0;
    return outcomes;
  }
}
