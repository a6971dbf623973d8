// How main.ts and the e2e tests both create and wire the standalone service, so tests run the real
// wiring. The wiring itself is CbsaModule's; what is left here belongs to a process that owns its
// HTTP server: the header limits, pino as the application's logger, and CBSA's WebSocket adapter.
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { CbsaModule } from './cbsa.module.js';
import { appConfig, type LoadedConfig, loadConfig } from './config/app.config.js';
import type { AppConfig } from './config/env.js';
import { LimitedExpressAdapter } from './http/limited-express.adapter.js';
import { CbsaWsAdapter } from './ws/cbsa-ws.adapter.js';

/** Creates the app on Express with the configured HTTP header limits; the config is read here unless given. */
export async function createApp(loaded?: LoadedConfig): Promise<INestApplication> {
  loaded ??= await loadConfig();
  // The HTTP server is created before DI runs, so its limits come from the parsed config directly.
  const { httpMaxHeaderBytes, httpMaxHeaders } = loaded.config;
  return NestFactory.create(
    CbsaModule.standalone(loaded.config),
    new LimitedExpressAdapter(httpMaxHeaderBytes, httpMaxHeaders),
    { bufferLogs: true, abortOnError: false },
  );
}

export async function setupApp(app: INestApplication): Promise<AppConfig> {
  app.useLogger(app.get(Logger));
  app.useWebSocketAdapter(new CbsaWsAdapter(app));
  return Promise.resolve(app.get<AppConfig>(appConfig.KEY));
}
