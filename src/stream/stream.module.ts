import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { RedisService } from '../redis/redis.service.js';
import { FlowMap } from './flow-map.js';
import { redisSlotStore } from '../redis/redis-slot-store.js';
import { IdSource, LocalIdSource, SlotIdSource } from './id-source.js';
import { MemoryStreamState } from './stream-state.js';
import { StreamService } from './stream.service.js';

@Module({
  providers: [
    {
      provide: FlowMap,
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) => FlowMap.load(cfg.flowMapFile),
    },
    {
      provide: IdSource,
      inject: [appConfig.KEY, RedisService],
      useFactory: (cfg: ConfigType<typeof appConfig>, redis: RedisService) => {
        const options = { ttlMs: cfg.idSlotTtlMs, burst: cfg.idBlockSize, slots: cfg.idSlots };
        if (redis.enabled) return new SlotIdSource(options, redisSlotStore(redis));
        // SINK=nats without Redis: several instances (and restarts) share one log, so ids come
        // from a slot leased in JetStream KV once the NATS sink has connected.
        return cfg.sink === 'nats' ? new SlotIdSource(options) : new LocalIdSource();
      },
    },
    StreamService,
    {
      provide: MemoryStreamState,
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) =>
        new MemoryStreamState(cfg.streamStateMax, cfg.streamStateTtlS * 1000, cfg.streamStateMaxBytes),
    },
  ],
  exports: [FlowMap, IdSource, StreamService, MemoryStreamState],
})
export class StreamModule {}
