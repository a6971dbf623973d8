import { Module } from '@nestjs/common';
import { StreamModule } from '../stream/stream.module.js';
import { BusService } from './bus.service.js';
import { ClusterStatsService } from './cluster-stats.service.js';

@Module({
  imports: [StreamModule],
  providers: [BusService, ClusterStatsService],
  exports: [BusService, ClusterStatsService],
})
export class ClusterModule {}
