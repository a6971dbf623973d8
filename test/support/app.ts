// Boots the real AppModule, wired exactly as main.ts does, on an ephemeral port.
import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createApp, setupApp } from '../../src/app.setup.js';
import type { AppConfig } from '../../src/config/env.js';

export interface RunningApp {
  app: INestApplication;
  config: AppConfig;
  port: number;
  http: string;
  ws: (path: string) => string;
  close: () => Promise<void>;
}

/**
 * `env` holds environment variables as the service reads them (e.g. { MONITOR_FLUSH_MS: '20' }).
 * They are set only while the app is created, which is when the config is read and validated.
 * MONITOR_REPLAY is 0 unless a test asks for it, so a monitor's first events frame is live traffic
 * rather than earlier tests' events; test/monitor-server.e2e-spec.ts tests the replay itself.
 */
export async function startApp(env: Record<string, string> = {}, port = 0): Promise<RunningApp> {
  const saved = process.env;
  process.env = { ...saved, LOG_LEVEL: 'ERROR', HOST: '127.0.0.1', PORT: String(port), MONITOR_REPLAY: '0', ...env };
  let app: INestApplication;
  try {
    app = await createApp();
  } finally {
    process.env = saved;
  }
  const config = await setupApp(app);
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
