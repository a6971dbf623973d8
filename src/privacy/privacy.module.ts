// Erasure by subject: the admin endpoint and the engines behind it. Imported only with ADMIN_TOKEN
// (see AppModule.withConfig). The field policy lives in StreamModule (every event passes it there).
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
