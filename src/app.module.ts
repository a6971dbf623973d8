import { type DynamicModule, Module } from '@nestjs/common';
import { ServeStaticModule } from '@nestjs/serve-static';
import { join } from 'node:path';
import { AccessModule } from './access/access.module.js';
import { AuthModule } from './auth/auth.module.js';
import type { LoadedConfig } from './config/app.config.js';
import { PACKAGE_ROOT } from './config/env.js';
import { HealthModule } from './health/health.module.js';
import { IngestModule } from './ingest/ingest.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MonitorModule } from './monitor/monitor.module.js';
import { setPageHeaders } from './monitor/page-headers.js';
import { RedisModule } from './redis/redis.module.js';

@Module({
  imports: [
    LoggingModule,
    LifecycleModule,
    RedisModule,
    MetricsModule,
    AuthModule,
    AccessModule,
    ServeStaticModule.forRoot(
      {
        rootPath: join(PACKAGE_ROOT, 'public'),
        renderPath: '/',
        serveStaticOptions: { setHeaders: setPageHeaders },
      },
      {
        rootPath: join(PACKAGE_ROOT, 'node_modules', 'uplot', 'dist'),
        serveRoot: '/vendor/uplot',
        renderPath: '/',
        serveStaticOptions: { setHeaders: setPageHeaders },
      },
    ),
    IngestModule,
    MonitorModule,
    HealthModule,
  ],
})
export class AppModule {
  /** The app with its configuration, parsed once by loadConfig(). */
  static withConfig(loaded: LoadedConfig): DynamicModule {
    return { module: AppModule, imports: [loaded.module] };
  }
}
