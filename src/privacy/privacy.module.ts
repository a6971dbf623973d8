// Erasure by subject: the admin endpoint (404 unless ADMIN_TOKEN is set) and the engines behind it.
// The field policy and the quarantine schemas live in StreamModule (every event passes them there).
import { Module } from '@nestjs/common';
import { SinkModule } from '../sink/sink.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { ErasureController } from './erasure.controller.js';
import { ErasureService } from './erasure.service.js';

@Module({
  imports: [StreamModule, SinkModule],
  controllers: [ErasureController],
  providers: [ErasureService],
})
export class ErasureModule {}
