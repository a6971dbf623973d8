import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { ServerResponse } from 'node:http';
import { ClusterStatsService } from '../cluster/cluster-stats.service.js';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { RedisService } from '../redis/redis.service.js';
import { StreamSink } from '../sink/stream-sink.service.js';
import { FlowMap, type FlowMapDocument } from '../stream/flow-map.js';
import type { StreamStats } from '../stream/stream.service.js';

export interface HealthReport extends Omit<StreamStats, 'messages_per_second'> {
  status: 'ok' | 'shutting_down';
  uptime_seconds: number;
  version: string;
  /** With Redis: live instances, and this instance's own counts (the top-level counts are the cluster's). */
  instances?: number;
  instance?: StreamStats & { id: string };
}

@Controller()
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly cluster: ClusterStatsService,
    private readonly flowMap: FlowMap,
    private readonly lifecycle: LifecycleService,
    private readonly redis: RedisService,
    private readonly sink: StreamSink,
    private readonly checks: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
  ) {}

  /** 200 while serving; 503 with status "shutting_down" once a shutdown has begun. */
  @Get('health')
  health(@Res({ passthrough: true }) res: ServerResponse): HealthReport {
    const stopping = this.lifecycle.shuttingDown;
    if (stopping) res.statusCode = 503;
    const { totals, instances, instance } = this.cluster.view();
    const {
      active_connections,
      active_monitors,
      total_messages,
      total_errors,
      total_duplicates,
      total_gaps,
    } = totals;
    return {
      status: stopping ? 'shutting_down' : 'ok',
      active_connections,
      active_monitors,
      total_messages,
      total_errors,
      total_duplicates,
      total_gaps,
      uptime_seconds: Math.floor((Date.now() - this.startedAt) / 1000),
      version: this.cfg.version,
      ...(instance && { instances, instance }),
    };
  }

  /** Liveness: the process is up and its event loop answers. */
  @Get('health/live')
  @HealthCheck()
  live() {
    return this.checks.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  /**
   * Readiness: 503 during shutdown, until Redis is connected (when configured), and while the sink is
   * stalled (oldest pending append older than SINK_READY_MAX_AGE_MS) or just failed.
   */
  @Get('health/ready')
  @HealthCheck()
  ready() {
    return this.checks.check([
      () => {
        const check = this.indicators.check('shutdown');
        return this.lifecycle.shuttingDown ? check.down('shutting down') : check.up();
      },
      () => {
        const check = this.indicators.check('redis');
        if (!this.redis.enabled) return check.up('not configured');
        return this.redis.ready ? check.up() : check.down('not connected');
      },
      () => {
        const check = this.indicators.check('sink');
        if (!this.sink.enabled) return check.up('not configured');
        return this.sink.healthy ? check.up() : check.down('stream appends stalled or failing');
      },
    ]);
  }

  @Get('event-flow-map')
  eventFlowMap(): FlowMapDocument {
    return this.flowMap.document;
  }
}
