import { Module } from '@nestjs/common';
import { StreamModule } from '../stream/stream.module.js';
import { StreamSink } from './stream-sink.service.js';

@Module({ imports: [StreamModule], providers: [StreamSink], exports: [StreamSink] })
export class SinkModule {}
