import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { StreamModule } from '../stream/stream.module.js';
import { EventSink } from './event-sink.js';
import { NatsSink } from './nats-sink.service.js';
import { StreamSink } from './stream-sink.service.js';

/** Provides the EventSink that SINK names; the other engine stays idle. */
@Module({
  imports: [StreamModule],
  providers: [
    StreamSink,
    NatsSink,
    {
      provide: EventSink,
      inject: [appConfig.KEY, StreamSink, NatsSink],
      useFactory: (cfg: ConfigType<typeof appConfig>, redis: StreamSink, nats: NatsSink): EventSink =>
        cfg.sink === 'nats' ? nats : redis,
    },
  ],
  exports: [EventSink],
})
export class SinkModule {}
