import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { AgeRetention } from '../privacy/age-retention.service.js';
import { EventPolicy } from '../privacy/event-policy.service.js';
import { SUBJECT_INDEX_KEY } from '../privacy/redis-erasure.js';
import { RedisService } from '../redis/redis.service.js';
import { StreamModule } from '../stream/stream.module.js';
import { MemoryStreamState } from '../stream/stream-state.js';
import { StreamLog } from './stream-log.js';
import { MemoryLog } from './memory/memory-log.js';
import { NatsSink } from './nats/log.js';
import { NatsModule } from './nats/nats.module.js';
import { NatsRetention } from './nats/retention.js';
import { RedisStreamSink } from './redis/redis-log.js';
import { StreamRetention } from './stream-retention.service.js';

@Module({
  imports: [StreamModule, NatsModule],
  providers: [
    NatsSink,
    {
      provide: StreamLog,
      inject: [appConfig.KEY, RedisService, NatsSink, EventPolicy, MemoryStreamState],
      useFactory: (
        cfg: ConfigType<typeof appConfig>,
        redis: RedisService,
        nats: NatsSink,
        policy: EventPolicy,
        state: MemoryStreamState,
      ): StreamLog => {
        if (cfg.sink === 'nats') return nats;
        // No Redis, no sink: resumable streams' seqs in memory (the erasure forgets them there too).
        if (!redis.enabled) return new MemoryLog(state, cfg.maxSeqGap);
        const index = cfg.adminToken !== undefined ? redis.key(SUBJECT_INDEX_KEY) : '';
        return new RedisStreamSink(redis, cfg.streamStateTtlS, cfg.maxSeqGap, policy.version ?? '', index);
      },
    },
    StreamRetention,
    AgeRetention,
    NatsRetention,
  ],
  exports: [StreamLog, StreamRetention, NatsSink],
})
export class SinkModule {}
