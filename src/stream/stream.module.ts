import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { RedisService } from '../redis/redis.service.js';
import { FlowMap } from './flow-map.js';
import { BlockIdSource, IdSource, LeasedIdSource, LocalIdSource } from './id-source.js';
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
        if (redis.enabled) return new LeasedIdSource(redis, cfg.idBlockSize);
        // SINK=nats without Redis: several instances (and restarts) share one log, so ids come
        // from a counter in JetStream KV, leased once the NATS sink has connected.
        return cfg.sink === 'nats' ? new BlockIdSource(cfg.idBlockSize) : new LocalIdSource();
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
