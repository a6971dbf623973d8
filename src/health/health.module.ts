import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ClusterModule } from '../cluster/cluster.module.js';
import { IngestModule } from '../ingest/ingest.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StreamModule, ClusterModule, IngestModule],
  controllers: [HealthController],
})
export class HealthModule {}
