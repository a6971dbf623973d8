// How main.ts and the e2e tests both create and wire the app, so tests run the real wiring.
import { parseMonitorParams } from './monitor/monitor-params.js';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger, PinoLogger } from 'nestjs-pino';
import { ConnectionSlots } from './access/connection-slots.js';
import { exposureWarning } from './access/host-check.js';
import { UpgradePolicy } from './access/upgrade-policy.js';
import { AppModule } from './app.module.js';
import { appConfig, type LoadedConfig, loadConfig } from './config/app.config.js';
import type { AppConfig } from './config/env.js';
import { LimitedExpressAdapter } from './http/limited-express.adapter.js';
import { setupOpenApi } from './http/openapi.js';
import { StreamSink } from './sink/stream-sink.service.js';
import { LifecycleService } from './lifecycle/lifecycle.service.js';
import { RawWsAdapter } from './ws/raw-ws.adapter.js';

/** Creates the app on Express with the configured HTTP header limits; the config is read here unless given. */
export async function createApp(loaded?: LoadedConfig): Promise<INestApplication> {
  loaded ??= await loadConfig();
  // The HTTP server is created before DI runs, so its limits come from the parsed config directly.
  const { httpMaxHeaderBytes, httpMaxHeaders } = loaded.config;
  return NestFactory.create(
    AppModule.withConfig(loaded),
    new LimitedExpressAdapter(httpMaxHeaderBytes, httpMaxHeaders),
    { bufferLogs: true, abortOnError: false },
  );
}

export async function setupApp(app: INestApplication): Promise<AppConfig> {
  const cfg = app.get<AppConfig>(appConfig.KEY);
  app.useLogger(app.get(Logger));
  const wsLogger = await app.resolve<PinoLogger>(PinoLogger);
  wsLogger.setContext(RawWsAdapter.name);
  const policy = app.get(UpgradePolicy);
  const sink = app.get(StreamSink);
  const lifecycle = app.get(LifecycleService);
  app.useWebSocketAdapter(
    new RawWsAdapter(
      app,
      cfg,
      policy,
      wsLogger,
      (ws) => sink.whenSocketSettled(ws),
      () => lifecycle.shutdownStartedAt,
    ),
  );
  // ALLOWED_HOSTS: every HTTP request is checked before any route (upgrades in the adapter).
  app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const status = policy.hostRefusal(req);
    if (status === undefined) return next();
    res.statusCode = status;
    res.end();
  });
  const { level, message } = app.get(ConnectionSlots).cap;
  app.get(Logger)[level === 'warn' ? 'warn' : 'log'](message, 'OpenFiles');
  const exposed = exposureWarning(cfg);
  if (exposed !== undefined) app.get(Logger).warn(exposed, 'Security');
  // A plain GET on a WebSocket path says whether an upgrade would be let in (426) or why not, so
  // the monitor page can tell a missing token (401) from a server that is down.
  // Longest path first: `app.use` matches a path and all below it, so /ws must not answer for /ws/monitor.
  const endpoints = (['websocketEndpoint', 'monitorEndpoint'] as const).toSorted(
    (a, b) => cfg[b].length - cfg[a].length,
  );
  for (const endpoint of endpoints) {
    app.use(cfg[endpoint], (req: IncomingMessage, res: ServerResponse) => {
      res.statusCode = policy.refusal(req, endpoint) ?? 426;
      if (res.statusCode === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      const parsed = endpoint === 'monitorEndpoint' && res.statusCode === 426 && parseMonitorParams(req.url);
      if (parsed && !parsed.ok) {
        res.statusCode = 400;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        return res.end(parsed.message);
      }
      res.end();
    });
  }
  setupOpenApi(app, cfg);
  return cfg;
}
