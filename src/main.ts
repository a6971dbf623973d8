import 'reflect-metadata';
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { Logger, PinoLogger } from 'nestjs-pino';
import { createApp, setupApp } from './app.setup.js';
import { type Listen, assertPortFree, listenShared, reportListening } from './cluster/listen.js';
import { type StartupFailure, runPrimary } from './cluster/primary.js';
import { type LoadedConfig, loadConfig } from './config/app.config.js';
import { gracefulShutdown } from './lifecycle/graceful-shutdown.js';
import { exitWhenLogged } from './logging/exit.js';
import { mounted } from './protocol/index.js';

async function bootstrap(loaded: LoadedConfig): Promise<void> {
  const app = await createApp(loaded);
  const cfg = await setupApp(app);
  // app.listen (init, then the HTTP server's listen) takes listen options too, though typed for (port, host).
  const { reusePort } = await listenShared(
    (options) => (app.listen as unknown as Listen).call(app, options),
    cfg,
  );
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  app
    .get(Logger)
    .log(
      `${cfg.appName} ${cfg.version} listening on http://${cfg.host}:${port} ` +
        `(ingest ${mounted(cfg, cfg.websocketEndpoint)}, monitor ${mounted(cfg, cfg.monitorEndpoint)})`,
      'Bootstrap',
    );
  if (cluster.isWorker && !reusePort) {
    app
      .get(Logger)
      .warn('SO_REUSEPORT is not supported here: the primary accepts every connection', 'Bootstrap');
  }
  reportListening(port);
  // Not Nest's enableShutdownHooks: it re-raises the signal, so the process would not exit 0.
  // A shutdown that timed out (or failed) exits 1, so a process manager can tell it from a clean one.
  // The exit waits at most LOG_FLUSH_MS for the log (logging/exit.ts): a dead log reader never holds it.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      gracefulShutdown(app, signal).then(
        (completed) => exitWhenLogged(PinoLogger.root, completed ? 0 : 1),
        (err: unknown) => {
          console.error('CBSA shutdown failed:', err);
          exitWhenLogged(PinoLogger.root, 1);
        },
      );
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

// The config is read and validated once per process; workers read the same environment.
loadConfig()
  .then((loaded) => {
    if (cluster.isPrimary && loaded.config.workers > 1) {
      const { port, host } = loaded.config;
      return assertPortFree(port, host).then(() => runPrimary(loaded.config));
    }
    return bootstrap(loaded);
  })
  .catch(fail);
