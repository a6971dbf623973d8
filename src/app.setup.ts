// What main.ts and the e2e tests both do to a freshly created app, so tests run the real wiring.
import type { INestApplication } from '@nestjs/common';
import { Logger, PinoLogger } from 'nestjs-pino';
import { appConfig } from './config/app.config.js';
import type { AppConfig } from './config/env.js';
import { RawWsAdapter } from './ws/raw-ws.adapter.js';

export async function setupApp(app: INestApplication): Promise<AppConfig> {
  const cfg = app.get<AppConfig>(appConfig.KEY);
  app.useLogger(app.get(Logger));
  const wsLogger = await app.resolve<PinoLogger>(PinoLogger);
  wsLogger.setContext(RawWsAdapter.name);
  app.useWebSocketAdapter(new RawWsAdapter(app, cfg, wsLogger));
  app.enableShutdownHooks();
  return cfg;
}
