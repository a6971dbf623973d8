// One pino logger for HTTP and WebSocket. Query strings are redacted from every logged URL so
// tokens passed as ?token= never reach the logs. Embedded in a host application (logger "nest"),
// the same lines go through the host's Nest logger instead, and only CBSA's own requests pass
// through pino-http (unlogged: the host decides what its request log holds).
import { Logger as NestLogger, Module, RequestMethod } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { LoggerModule, type Params } from 'nestjs-pino';
import type { DestinationStream, SerializedRequest } from 'pino';
import { CBSA_OPTIONS, appConfig } from '../config/app.config.js';
import { HTTP_ROUTES } from '../config/schema.js';
import type { ResolvedOptions } from '../config/options.js';

export function redactQuery(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  return q === -1 ? url : url!.slice(0, q) + '?[redacted]';
}

/** pino's numeric levels onto the Nest logger's methods. */
function nestMethod(level: number): 'verbose' | 'debug' | 'log' | 'warn' | 'error' | 'fatal' {
  if (level <= 10) return 'verbose';
  if (level <= 20) return 'debug';
  if (level <= 30) return 'log';
  if (level <= 40) return 'warn';
  if (level <= 50) return 'error';
  return 'fatal';
}

/** A pino destination that hands each line to the application's Nest logger (whatever the host set). */
export function nestLogStream(): DestinationStream {
  return {
    write(line: string): void {
      const { level, msg, context, ...fields } = JSON.parse(line) as Record<string, unknown>;
      delete fields.time;
      const text = Object.keys(fields).length > 0 ? `${String(msg)} ${JSON.stringify(fields)}` : String(msg);
      NestLogger[nestMethod(Number(level))](text, typeof context === 'string' ? context : 'CBSA');
    },
  };
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [appConfig.KEY, CBSA_OPTIONS],
      useFactory: (cfg: ConfigType<typeof appConfig>, { logger, ownsServer }: ResolvedOptions): Params => {
        const options = {
          level: cfg.logLevel,
          base: { app: cfg.appName, version: cfg.version, pid: process.pid },
          transport: logger === 'pino' && cfg.logFormat === 'pretty' ? { target: 'pino-pretty' } : undefined,
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
        };
        if (ownsServer) return { pinoHttp: options };
        // Embedded, the host's requests never pass through CBSA's request middleware (nor get its
        // req.id and req.log): only those under the base path, or without one, to CBSA's own routes.
        const base = cfg.basePath.slice(1);
        const own =
          base === '' ? ['', ...HTTP_ROUTES.map((r) => `${r.slice(1)}{/*splat}`)] : [`${base}{/*splat}`];
        const forRoutes = own.map((path) => ({ path, method: RequestMethod.ALL }));
        if (logger === 'pino') return { pinoHttp: options, forRoutes };
        // Through the host's Nest logger: CBSA's own lines only, no request log of its own.
        return { pinoHttp: [{ ...options, base: null, autoLogging: false }, nestLogStream()], forRoutes };
      },
    }),
  ],
})
export class LoggingModule {}
