// GET /config.json: what the monitor page needs to know about this server before it connects,
// so a custom MONITOR_ENDPOINT works without editing the page. The paths are the service's own,
// below BASE_PATH: the page resolves them against its own URL (so it works under a base path, and
// behind a proxy that serves the service under a prefix of its own).
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { FLOW_MAP_PATH, ROUTES } from '../protocol/index.js';

export interface PageConfig {
  ingest_endpoint: string;
  monitor_endpoint: string;
  flow_map: string;
}

@Controller()
export class PageConfigController {
  constructor(@Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>) {}

  @Get(ROUTES.config)
  @ApiTags('monitor page')
  @ApiOperation({
    operationId: 'getPageConfig',
    summary: 'Where the monitor page finds its socket and the flow map',
  })
  @ApiOkResponse({
    description: 'Where the monitor page finds the monitor socket and the flow map',
    schema: {
      type: 'object',
      required: ['ingest_endpoint', 'monitor_endpoint', 'flow_map'],
      properties: {
        ingest_endpoint: { type: 'string' },
        monitor_endpoint: { type: 'string' },
        flow_map: { type: 'string' },
      },
    },
  })
  pageConfig(): PageConfig {
    return {
      ingest_endpoint: this.cfg.websocketEndpoint,
      monitor_endpoint: this.cfg.monitorEndpoint,
      flow_map: FLOW_MAP_PATH,
    };
  }
}
