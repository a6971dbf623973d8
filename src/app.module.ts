import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { ServeStaticModule } from '@nestjs/serve-static';
import { join } from 'node:path';
import { appConfig } from './config/app.config.js';
import { PACKAGE_ROOT } from './config/env.js';
import { HealthModule } from './health/health.module.js';
import { IngestModule } from './ingest/ingest.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MonitorModule } from './monitor/monitor.module.js';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true, load: [appConfig] }),
    LoggingModule,
    ServeStaticModule.forRoot({ rootPath: join(PACKAGE_ROOT, 'public'), renderPath: '/' }),
    IngestModule,
    MonitorModule,
    HealthModule,
  ],
})
export class AppModule {}
