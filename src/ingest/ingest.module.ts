import { Module } from '@nestjs/common';
import { SinkModule } from '../sink/sink.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { IngestGateway } from './ingest.gateway.js';

@Module({ imports: [StreamModule, SinkModule], providers: [IngestGateway] })
export class IngestModule {}
