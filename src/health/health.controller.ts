import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { FlowMap, type FlowMapDocument } from '../stream/flow-map.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { StreamService, type StreamStats } from '../stream/stream.service.js';

export interface HealthReport extends Omit<StreamStats, 'messages_per_second'> {
  status: 'ok' | 'shutting_down';
  uptime_seconds: number;
  version: string;
}

@Controller()
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly stream: StreamService,
    private readonly flowMap: FlowMap,
    private readonly lifecycle: LifecycleService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
  ) {}

  /** 200 while serving; 503 with status "shutting_down" once a shutdown has begun. */
  @Get('health')
  health(@Res({ passthrough: true }) res: ServerResponse): HealthReport {
    const stopping = this.lifecycle.shuttingDown;
    if (stopping) res.statusCode = 503;
    const { active_connections, active_monitors, total_messages, total_errors } = this.stream.stats();
    return {
      status: stopping ? 'shutting_down' : 'ok',
      active_connections,
      active_monitors,
      total_messages,
      total_errors,
      uptime_seconds: Math.floor((Date.now() - this.startedAt) / 1000),
      version: this.cfg.version,
    };
  }

  @Get('event-flow-map')
  eventFlowMap(): FlowMapDocument {
    return this.flowMap.document;
  }
}
