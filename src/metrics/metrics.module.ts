import { Global, Module } from '@nestjs/common';
import { BuildInfo } from './build-info.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

@Global()
@Module({
  providers: [MetricsService, BuildInfo],
  controllers: [MetricsController],
  exports: [MetricsService],
})
export class MetricsModule {}
