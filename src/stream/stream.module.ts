import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { RedisService } from '../redis/redis.service.js';
import { FlowMap } from './flow-map.js';
import { IdSource, LeasedIdSource, LocalIdSource } from './id-source.js';
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
      useFactory: (cfg: ConfigType<typeof appConfig>, redis: RedisService) =>
        redis.enabled ? new LeasedIdSource(redis, cfg.idBlockSize) : new LocalIdSource(),
    },
    StreamService,
    {
      provide: MemoryStreamState,
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) =>
        new MemoryStreamState(cfg.streamStateMax, cfg.streamStateTtlS * 1000),
    },
  ],
  exports: [FlowMap, StreamService, MemoryStreamState],
})
export class StreamModule {}
