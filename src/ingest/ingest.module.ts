import { Module } from '@nestjs/common';
import { StreamModule } from '../stream/stream.module.js';
import { IngestGateway } from './ingest.gateway.js';

@Module({ imports: [StreamModule], providers: [IngestGateway] })
export class IngestModule {}
