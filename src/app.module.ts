import { Module } from '@nestjs/common';
import { ServeStaticModule } from '@nestjs/serve-static';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AccessModule } from './access/access.module.js';
import { StartupReport } from './access/startup-report.js';
import { AuthModule } from './auth/auth.module.js';
import { appConfig } from './config/app.config.js';
import { type AppConfig, PACKAGE_ROOT } from './config/env.js';
import { HealthModule } from './health/health.module.js';
import { HttpFront } from './http/http-front.js';
import { OpenApiController } from './http/openapi.js';
import { IngestModule } from './ingest/ingest.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MonitorModule } from './monitor/monitor.module.js';
import { ErasureModule } from './privacy/privacy.module.js';
import { setPageHeaders } from './monitor/page-headers.js';
import { SinkModule } from './sink/sink.module.js';
import { RedisModule } from './redis/redis.module.js';
import { CbsaWsSupport } from './ws/cbsa-ws.adapter.js';

/** uPlot's browser build, wherever the package manager put it. */
const UPLOT_DIST = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** The feature modules; CbsaModule (cbsa.module.ts) gives them their configuration. */
@Module({
  imports: [
    LoggingModule,
    LifecycleModule,
    RedisModule,
    MetricsModule,
    AuthModule,
    AccessModule,
    ServeStaticModule.forRootAsync({
      inject: [appConfig.KEY],
      useFactory: (cfg: AppConfig) => [
        {
          rootPath: join(PACKAGE_ROOT, 'public'),
          serveRoot: cfg.basePath || undefined,
          renderPath: '/',
          serveStaticOptions: { setHeaders: setPageHeaders },
        },
        {
          rootPath: UPLOT_DIST,
          serveRoot: `${cfg.basePath}/vendor/uplot`,
          renderPath: '/',
          serveStaticOptions: { setHeaders: setPageHeaders },
        },
      ],
    }),
    IngestModule,
    MonitorModule,
    HealthModule,
    SinkModule,
    // Its route answers 404 like any unknown path unless ADMIN_TOKEN is set.
    ErasureModule,
  ],
  controllers: [OpenApiController],
  providers: [HttpFront, CbsaWsSupport, StartupReport],
})
export class AppModule {}
