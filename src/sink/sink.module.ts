import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { AgeRetention } from '../privacy/age-retention.service.js';
import { EventPolicy } from '../privacy/event-policy.service.js';
import { SUBJECT_INDEX_KEY } from '../privacy/redis-erasure.js';
import { RedisService } from '../redis/redis.service.js';
import { StreamModule } from '../stream/stream.module.js';
import { DurableSink, FAILED, type AppendOutcome, type SinkEntry } from './durable-sink.js';
import { NatsSink } from './nats/log.js';
import { NatsModule } from './nats/nats.module.js';
import { RedisStreamSink } from './redis-stream-sink.js';
import { StreamRetention } from './stream-retention.service.js';
import { StreamSink } from './stream-sink.service.js';

/** Without Redis nothing is queued (seq state is in memory); this engine is never asked. */
class NoSink extends DurableSink {
  get ready(): boolean {
    return false;
  }
  append(entries: readonly SinkEntry[]): Promise<AppendOutcome[]> {
    return Promise.resolve(entries.map(() => FAILED));
  }
  lastSeq(): Promise<number> {
    return Promise.reject(new Error('no durable sink'));
  }
}

@Module({
  imports: [StreamModule, NatsModule],
  providers: [
    NatsSink,
    {
      provide: DurableSink,
      inject: [appConfig.KEY, RedisService, NatsSink, EventPolicy],
      useFactory: (
        cfg: ConfigType<typeof appConfig>,
        redis: RedisService,
        nats: NatsSink,
        policy: EventPolicy,
      ): DurableSink => {
        if (cfg.sink === 'nats') return nats;
        if (!redis.enabled) return new NoSink();
        const index = cfg.adminToken !== undefined ? redis.key(SUBJECT_INDEX_KEY) : '';
        return new RedisStreamSink(redis, cfg.streamStateTtlS, cfg.maxSeqGap, policy.version ?? '', index);
      },
    },
    StreamSink,
    StreamRetention,
    AgeRetention,
  ],
  exports: [StreamSink, StreamRetention, NatsSink],
})
export class SinkModule {}
