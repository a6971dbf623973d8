import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ClusterModule } from '../cluster/cluster.module.js';
import { SinkModule } from '../sink/sink.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StreamModule, ClusterModule, SinkModule],
  controllers: [HealthController],
})
export class HealthModule {}
