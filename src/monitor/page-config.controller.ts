// GET /config.json: what the monitor page needs to know about this server before it connects,
// so a custom MONITOR_ENDPOINT works without editing the page.
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { FLOW_MAP_PATH, ROUTES, mounted } from '../protocol/index.js';

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
      ingest_endpoint: mounted(this.cfg, this.cfg.websocketEndpoint),
      monitor_endpoint: mounted(this.cfg, this.cfg.monitorEndpoint),
      flow_map: mounted(this.cfg, FLOW_MAP_PATH),
    };
  }
}
