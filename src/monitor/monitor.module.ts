import { Module } from '@nestjs/common';
import { ClusterModule } from '../cluster/cluster.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { MonitorFanout } from './monitor-fanout.service.js';
import { MonitorGateway } from './monitor.gateway.js';
import { PageConfigController } from './page-config.controller.js';

@Module({
  imports: [StreamModule, ClusterModule],
  controllers: [PageConfigController],
  providers: [MonitorFanout, MonitorGateway],
  exports: [MonitorFanout],
})
export class MonitorModule {}
