// One pino logger for HTTP and WebSocket. Query strings are redacted from every logged URL so
// tokens passed as ?token= never reach the logs.
import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { LoggerModule } from 'nestjs-pino';
import type { SerializedRequest } from 'pino';
import { appConfig } from '../config/app.config.js';

export function redactQuery(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  return q === -1 ? url : url!.slice(0, q) + '?[redacted]';
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) => ({
        pinoHttp: {
          level: cfg.logLevel,
          base: { app: cfg.appName, version: cfg.version, pid: process.pid },
          transport: cfg.logFormat === 'pretty' ? { target: 'pino-pretty' } : undefined,
          serializers: {
            // pino-http hands serializers its standard request view (headers, remoteAddress, ...).
            req: (req: SerializedRequest) => ({
              id: req.id,
              method: req.method,
              url: redactQuery(req.url),
              remote_address: req.remoteAddress,
              user_agent: req.headers['user-agent'],
            }),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
