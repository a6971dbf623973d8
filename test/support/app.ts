// Boots the real AppModule, wired exactly as main.ts does, on an ephemeral port.
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { AppModule } from '../../src/app.module.js';
import { setupApp } from '../../src/app.setup.js';
import { appConfig } from '../../src/config/app.config.js';
import { type AppConfig, parseEnv } from '../../src/config/env.js';

export interface RunningApp {
  app: INestApplication;
  config: AppConfig;
  port: number;
  http: string;
  ws: (path: string) => string;
  close: () => Promise<void>;
}

/** `env` holds environment variables as the service reads them (e.g. { MONITOR_FLUSH_MS: '20' }). */
export async function startApp(env: Record<string, string> = {}, port = 0): Promise<RunningApp> {
  const config = parseEnv({ LOG_LEVEL: 'ERROR', HOST: '127.0.0.1', PORT: String(port), ...env });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(appConfig.KEY)
    .useValue(config)
    .compile();
  const app = moduleRef.createNestApplication({ bufferLogs: true });
  await setupApp(app);
  await app.listen(config.port, config.host);
  const bound = (app.getHttpServer() as { address(): AddressInfo }).address().port;
  return {
    app,
    config,
    port: bound,
    http: `http://127.0.0.1:${bound}`,
    ws: (path) => `ws://127.0.0.1:${bound}${path}`,
    close: () => app.close(),
  };
}
