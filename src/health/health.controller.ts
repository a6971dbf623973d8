import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { ServerResponse } from 'node:http';
import { AuthService } from '../auth/auth.service.js';
import { ClusterStatsService } from '../cluster/cluster-stats.service.js';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { ROUTES, type StreamStats } from '../protocol/index.js';
import { RedisService } from '../redis/redis.service.js';
import { FramePipeline } from '../ingest/frame-pipeline.js';
import { FlowMap, type FlowMapDocument } from '../stream/flow-map.js';
import { IdSource } from '../stream/id-source.js';
import { FLOW_MAP, HEALTH_CHECK, HEALTH_REPORT } from './health.schemas.js';

export interface HealthReport extends Omit<StreamStats, 'messages_per_second'> {
  status: 'ok' | 'shutting_down';
  uptime_seconds: number;
  /** When this instance started (ISO 8601): a new value means the service restarted. */
  started_at: string;
  version: string;
  /** With Redis: live instances, and this instance's own counts (the top-level counts are the cluster's). */
  instances?: number;
  instance?: StreamStats & { id: string };
  /** With Redis: whether the bus (monitor fan-out across instances, cluster counts) is connected. */
  bus?: 'up' | 'down';
  /** Ingest upgrades and token refreshes this instance refused (cbsa_auth_refused_total summed). */
  auth_refused: number;
}

@Controller()
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly cluster: ClusterStatsService,
    private readonly flowMap: FlowMap,
    private readonly lifecycle: LifecycleService,
    private readonly redis: RedisService,
    private readonly pipeline: FramePipeline,
    private readonly ids: IdSource,
    private readonly checks: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly auth: AuthService,
  ) {}

  /** 200 while serving; 503 with status "shutting_down" once a shutdown has begun. */
  @Get(ROUTES.health)
  @ApiTags('health')
  @ApiOperation({
    operationId: 'getHealth',
    summary: 'Counts, version and whether the service is shutting down',
  })
  @ApiOkResponse({ description: 'Serving', schema: HEALTH_REPORT })
  @ApiServiceUnavailableResponse({ description: 'Shutting down', schema: HEALTH_REPORT })
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
      resumes,
    } = totals;
    return {
      status: stopping ? 'shutting_down' : 'ok',
      active_connections,
      active_monitors,
      total_messages,
      total_errors,
      total_duplicates,
      total_gaps,
      resumes,
      uptime_seconds: Math.floor((Date.now() - this.startedAt) / 1000),
      started_at: this.lifecycle.startedAt,
      version: this.cfg.version,
      ...(instance && { instances, instance }),
      ...(this.redis.enabled && { bus: this.redis.ready ? ('up' as const) : ('down' as const) }),
      auth_refused: this.auth.refusedTotal,
    };
  }

  /** Liveness: the process is up and its event loop answers. */
  @Get(ROUTES.live)
  @ApiTags('health')
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness probe: the process answers' })
  @ApiOkResponse({ description: 'The process is up', schema: HEALTH_CHECK })
  @HealthCheck()
  live() {
    return this.checks.check([() => this.indicators.check('process').up({ pid: process.pid })]);
  }

  /**
   * Readiness: 503 only when this instance cannot serve ingest: shutting down, no message id to
   * hand out, or the sink unavailable (appends failing, Redis unreachable, or the oldest pending
   * append older than SINK_READY_MAX_AGE_MS). A Redis outage in bus mode is not one (acks go on,
   * local monitors still see events): it shows as "bus":"down" in /health and in metrics instead.
   */
  @Get(ROUTES.ready)
  @ApiTags('health')
  @ApiOperation({ operationId: 'getReadiness', summary: 'Readiness probe: this instance can serve ingest' })
  @ApiOkResponse({ description: 'Ready for traffic', schema: HEALTH_CHECK })
  @ApiServiceUnavailableResponse({
    description: 'Not ready: the failing checks are in error',
    schema: HEALTH_CHECK,
  })
  @HealthCheck()
  ready() {
    return this.checks.check([
      () => {
        const check = this.indicators.check('shutdown');
        return this.lifecycle.shuttingDown ? check.down('shutting down') : check.up();
      },
      () => {
        const check = this.indicators.check('ids');
        const leaseError = this.ids.leaseError;
        const detail: { lease_error?: string } = leaseError === undefined ? {} : { lease_error: leaseError };
        if (!this.ids.available) return check.down({ message: 'no message id to hand out', ...detail });
        return check.up(detail);
      },
      () => {
        const check = this.indicators.check('auth');
        if (!this.auth.jwt) return check.up('static tokens');
        return this.auth.ready ? check.up() : check.down('no JWKS keys fetched yet');
      },
      () => {
        const check = this.indicators.check('sink');
        if (!this.pipeline.enabled) return check.up('not configured');
        return this.pipeline.healthy
          ? check.up()
          : check.down('stream appends stalled, failing or Redis unreachable');
      },
    ]);
  }

  @Get(ROUTES.flowMap)
  @ApiTags('flow map')
  @ApiOperation({ operationId: 'getEventFlowMap', summary: 'The event flow map events are classified onto' })
  @ApiOkResponse({ description: 'The event flow map the service classifies onto', schema: FLOW_MAP })
  eventFlowMap(): FlowMapDocument {
    return this.flowMap.document;
  }
}
