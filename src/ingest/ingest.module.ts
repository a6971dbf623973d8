import { Module } from '@nestjs/common';
import { ClusterModule } from '../cluster/cluster.module.js';
import { SinkModule } from '../sink/sink.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { FramePipeline } from './frame-pipeline.js';
import { IngestGateway } from './ingest.gateway.js';

@Module({
  imports: [StreamModule, SinkModule, ClusterModule],
  providers: [FramePipeline, IngestGateway],
  exports: [FramePipeline],
})
export class IngestModule {}
