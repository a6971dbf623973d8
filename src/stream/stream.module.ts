import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { FlowMap } from './flow-map.js';
import { StreamService } from './stream.service.js';

@Module({
  providers: [
    {
      provide: FlowMap,
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) => FlowMap.load(cfg.flowMapFile),
    },
    StreamService,
  ],
  exports: [FlowMap, StreamService],
})
export class StreamModule {}
