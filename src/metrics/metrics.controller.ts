import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ROUTES } from '../protocol/index.js';
import { MetricsService } from './metrics.service.js';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get(ROUTES.metrics)
  @ApiTags('metrics')
  @ApiOperation({
    operationId: 'getMetrics',
    summary: 'Prometheus metrics of this instance (of all workers with WORKERS>1)',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4', schema: { type: 'string' } })
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    try {
      return await this.metrics.scrape();
    } catch (err) {
      // With workers: the primary could not collect every worker's metrics; a partial sum would lie.
      throw new ServiceUnavailableException((err as Error).message);
    }
  }
}
