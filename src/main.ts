import 'reflect-metadata';
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { Logger } from 'nestjs-pino';
import { createApp, setupApp } from './app.setup.js';
import { type StartupFailure, runPrimary } from './cluster/primary.js';
import { parseEnv } from './config/env.js';
import { gracefulShutdown } from './lifecycle/graceful-shutdown.js';

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const cfg = await setupApp(app);
  await app.listen(cfg.port, cfg.host);
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  app
    .get(Logger)
    .log(
      `${cfg.appName} ${cfg.version} listening on http://${cfg.host}:${port} ` +
        `(ingest ${cfg.websocketEndpoint}, monitor ${cfg.monitorEndpoint})`,
      'Bootstrap',
    );
  // Not Nest's enableShutdownHooks: it re-raises the signal, so the process would not exit 0.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void gracefulShutdown(app, signal).finally(() => process.exit(0));
    });
  }
}

function fail(err: unknown): void {
  // Config and flow-map errors carry a message naming what is wrong; that is all the operator needs.
  const error = err instanceof Error ? err.message : String(err);
  console.error(`CBSA failed to start: ${error}`);
  // A worker tells the primary why, so a primary that gives up can say it (cluster/primary.ts).
  if (cluster.isWorker && process.send !== undefined) {
    process.send({ cbsa: 'startup-failed', error } satisfies StartupFailure, () => process.exit(1));
  } else {
    process.exit(1);
  }
}

if (cluster.isPrimary) {
  // Importing AppModule (through app.setup) has loaded .env into process.env by now.
  let workers = 1;
  try {
    const cfg = parseEnv(process.env);
    workers = cfg.workers;
    if (workers > 1) runPrimary(cfg);
  } catch (err) {
    fail(err);
  }
  if (workers === 1) bootstrap().catch(fail);
} else {
  bootstrap().catch(fail);
}
