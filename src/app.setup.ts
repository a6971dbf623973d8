// How main.ts and the e2e tests both create and wire the app, so tests run the real wiring.
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger, PinoLogger } from 'nestjs-pino';
import { UpgradePolicy } from './access/upgrade-policy.js';
import { AppModule } from './app.module.js';
import { appConfig } from './config/app.config.js';
import { type AppConfig, parseEnv } from './config/env.js';
import { LimitedExpressAdapter } from './http/limited-express.adapter.js';
import { StreamSink } from './sink/stream-sink.service.js';
import { RawWsAdapter } from './ws/raw-ws.adapter.js';

/** Creates the app on Express with the configured HTTP header limits. */
export function createApp(): Promise<INestApplication> {
  // The HTTP server is created before DI runs, so its limits are read here from the same parser.
  const { httpMaxHeaderBytes, httpMaxHeaders } = parseEnv(process.env);
  return NestFactory.create(AppModule, new LimitedExpressAdapter(httpMaxHeaderBytes, httpMaxHeaders), {
    bufferLogs: true,
    abortOnError: false,
  });
}

export async function setupApp(app: INestApplication): Promise<AppConfig> {
  const cfg = app.get<AppConfig>(appConfig.KEY);
  app.useLogger(app.get(Logger));
  const wsLogger = await app.resolve<PinoLogger>(PinoLogger);
  wsLogger.setContext(RawWsAdapter.name);
  const policy = app.get(UpgradePolicy);
  const sink = app.get(StreamSink);
  app.useWebSocketAdapter(new RawWsAdapter(app, cfg, policy, wsLogger, (ws) => sink.whenSocketSettled(ws)));
  // A plain GET on a WebSocket path says whether an upgrade would be let in (426) or why not, so
  // the monitor page can tell a missing token (401) from a server that is down.
  for (const endpoint of ['websocketEndpoint', 'monitorEndpoint'] as const) {
    app.use(cfg[endpoint], (req: IncomingMessage, res: ServerResponse) => {
      res.statusCode = policy.refusal(req, endpoint) ?? 426;
      if (res.statusCode === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      res.end();
    });
  }
  return cfg;
}
