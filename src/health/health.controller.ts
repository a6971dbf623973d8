import { Controller, Get, Inject } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { FlowMap, type FlowMapDocument } from '../stream/flow-map.js';
import { StreamService, type StreamStats } from '../stream/stream.service.js';

export interface HealthReport extends Omit<StreamStats, 'messages_per_second'> {
  status: 'ok';
  uptime_seconds: number;
  version: string;
}

@Controller()
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly stream: StreamService,
    private readonly flowMap: FlowMap,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
  ) {}

  @Get('health')
  health(): HealthReport {
    const { active_connections, active_monitors, total_messages, total_errors } = this.stream.stats();
    return {
      status: 'ok',
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
