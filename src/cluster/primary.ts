// WORKERS > 1: this process becomes the node:cluster primary. It forks the workers (which share
// the port), restarts one that dies with a growing delay, and on SIGTERM / SIGINT shuts every
// worker down gracefully before exiting 0.
import cluster, { type Worker } from 'node:cluster';
import pino from 'pino';
import type { AppConfig } from '../config/env.js';
import { serveClusterMetrics } from '../metrics/cluster-metrics.js';

const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that ran this long before dying resets the backoff. */
const STABLE_AFTER_MS = 60_000;

export function runPrimary(cfg: AppConfig): void {
  const log = pino({
    level: cfg.logLevel,
    base: { app: cfg.appName, version: cfg.version, context: 'Primary' },
  });
  let stopping = false;
  let delay = FIRST_RESTART_DELAY_MS;
  const startedAt = new Map<Worker, number>();

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
  };

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
    startedAt.delete(worker);
    if (stopping) return;
    if (lived > STABLE_AFTER_MS) delay = FIRST_RESTART_DELAY_MS;
    log.error(
      { worker_pid: worker.process.pid, code, signal, restart_in_ms: delay },
      'Worker %s died (%s); restarting in %d ms',
      String(worker.process.pid),
      signal ?? `exit ${code}`,
      delay,
    );
    setTimeout(fork, delay);
    delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: startedAt.size }, 'Shutting down %d workers (%s)', startedAt.size, signal);
    const force = setTimeout(() => {
      log.warn('Workers did not stop in time; exiting');
      process.exit(0);
    }, cfg.shutdownTimeoutMs + 1000);
    force.unref();
    const exits = [...startedAt.keys()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    );
    void Promise.all(exits).then(() => {
      log.info('All workers stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  serveClusterMetrics();
  log.info({ workers: cfg.workers }, 'Starting %d workers', cfg.workers);
  for (let i = 0; i < cfg.workers; i++) fork();
}
