// What main.ts and the e2e tests both do to a freshly created app, so tests run the real wiring.
import type { INestApplication } from '@nestjs/common';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Logger, PinoLogger } from 'nestjs-pino';
import { UpgradePolicy } from './access/upgrade-policy.js';
import { appConfig } from './config/app.config.js';
import type { AppConfig } from './config/env.js';
import { RawWsAdapter } from './ws/raw-ws.adapter.js';

export async function setupApp(app: INestApplication): Promise<AppConfig> {
  const cfg = app.get<AppConfig>(appConfig.KEY);
  app.useLogger(app.get(Logger));
  const wsLogger = await app.resolve<PinoLogger>(PinoLogger);
  wsLogger.setContext(RawWsAdapter.name);
  const policy = app.get(UpgradePolicy);
  app.useWebSocketAdapter(new RawWsAdapter(app, cfg, policy, wsLogger));
  const server = app.getHttpServer() as Server;
  server.maxHeadersCount = cfg.httpMaxHeaders;
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
