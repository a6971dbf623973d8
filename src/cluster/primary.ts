// WORKERS > 1: this process becomes the node:cluster primary. It forks the workers (which share
// the port), counts their ingest sockets against the machine's connection caps, restarts one that
// dies with a growing delay, gives up when workers keep failing before they ever serve, and on
// SIGTERM / SIGINT shuts every worker down gracefully before exiting 0.
import cluster, { type Worker } from 'node:cluster';
import pino from 'pino';
import {
  type SlotKind,
  type SlotMessage,
  SlotTable,
  isSlotMessage,
  subjectTable,
} from '../access/connection-slots.js';
import type { AppConfig } from '../config/env.js';
import { type PortMessage, isPortMessage } from './listen.js';
import { exitWhenLogged } from '../logging/exit.js';
import { serveClusterMetrics } from '../metrics/cluster-metrics.js';

const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that ran this long before dying resets the backoff. */
const STABLE_AFTER_MS = 60_000;
/** This many workers in a row dying before they listened, with none listening, ends the primary. */
export const MAX_FAILED_STARTS = 5;

/** A worker that cannot start tells the primary why before it exits (see main.ts). */
export interface StartupFailure {
  cbsa: 'startup-failed';
  error: string;
}

function isStartupFailure(message: unknown): message is StartupFailure {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { cbsa?: unknown }).cbsa === 'startup-failed' &&
    typeof (message as { error?: unknown }).error === 'string'
  );
}

export function runPrimary(cfg: AppConfig): void {
  const log = pino({
    level: cfg.logLevel,
    base: { app: cfg.appName, version: cfg.version, context: 'Primary' },
  });
  let stopping = false;
  let delay = FIRST_RESTART_DELAY_MS;
  const startedAt = new Map<Worker, number>();
  const listening = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  /** Workers that died before they listened, since one last listened. */
  let failedStarts = 0;
  let lastError: string | undefined;

  // The machine's connection caps: every worker asks here before it accepts an ingest socket.
  const slots = new SlotTable(cfg.maxConnections, cfg.maxConnectionsPerIp);
  const subjects = subjectTable(cfg.maxConnectionsPerSubject);
  const tableOf = (kind: SlotKind | undefined) => (kind === 'subject' ? subjects : slots);
  /** Per worker, the slots it holds by table and group ("<kind>\n<group>"), given back if it dies. */
  const held = new Map<Worker, Map<string, number>>();
  const onMessage = (worker: Worker, message: unknown) => {
    if (isStartupFailure(message)) {
      lastError = message.error;
      return;
    }
    if (isPortMessage(message)) return onPortMessage(worker, message);
    if (!isSlotMessage(message)) return;
    const mine = held.get(worker) ?? new Map<string, number>();
    held.set(worker, mine);
    if (message.cbsa === 'slot-answer') return;
    const table = tableOf(message.kind);
    const key = `${message.kind ?? 'ingest'}\n${message.group}`;
    if (message.cbsa === 'slot-acquire') {
      const status = table.acquire(message.group);
      if (status === undefined) mine.set(key, (mine.get(key) ?? 0) + 1);
      if (worker.isConnected()) {
        worker.send({ cbsa: 'slot-answer', id: message.id, status: status ?? null } satisfies SlotMessage);
      } else if (status === undefined) {
        table.release(message.group);
        mine.set(key, mine.get(key)! - 1);
      }
    } else if ((mine.get(key) ?? 0) > 0) {
      table.release(message.group);
      mine.set(key, mine.get(key)! - 1);
    }
  };
  cluster.on('message', onMessage);

  const fork = () => {
    if (stopping) return;
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    log.info({ worker_pid: worker.process.pid }, 'Worker %s started', String(worker.process.pid));
  };

  // The shared port. Workers bind their own sockets (SO_REUSEPORT, cluster/listen.ts), so with
  // PORT=0 the first to ask picks a free port and the rest, and any restarted later, bind that one.
  let port = cfg.port === 0 ? undefined : cfg.port;
  let picker: Worker | undefined;
  const askers: Worker[] = [];
  const answer = (worker: Worker, p: number) => {
    if (worker.isConnected()) worker.send({ cbsa: 'port-answer', port: p } satisfies PortMessage);
  };
  const onPortMessage = (worker: Worker, message: PortMessage) => {
    if (message.cbsa === 'port-ask') {
      if (port !== undefined) answer(worker, port);
      else if (picker === undefined) answer((picker = worker), 0);
      else askers.push(worker);
    } else if (message.cbsa === 'listening') {
      // A worker's own socket emits no cluster 'listening': this message says it serves.
      listening.add(worker);
      failedStarts = 0;
      if (port === undefined) {
        port = message.port;
        picker = undefined;
        for (const asker of askers.splice(0)) answer(asker, port);
      }
    }
  };
  /** A picker that died before it listened hands the choice to the next worker waiting. */
  const pickerGone = (worker: Worker) => {
    const waiting = askers.indexOf(worker);
    if (waiting >= 0) askers.splice(waiting, 1);
    if (picker !== worker) return;
    picker = askers.shift();
    if (picker !== undefined) answer(picker, 0);
  };

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
    const hadListened = listening.delete(worker);
    pickerGone(worker);
    startedAt.delete(worker);
    // A dead worker's sockets are gone: give their slots back.
    for (const [key, count] of held.get(worker) ?? []) {
      const [kind, group] = [key.slice(0, key.indexOf('\n')), key.slice(key.indexOf('\n') + 1)];
      for (let i = 0; i < count; i++) tableOf(kind as SlotKind).release(group);
    }
    held.delete(worker);
    if (stopping) return;
    if (!hadListened) failedStarts++;
    if (failedStarts >= MAX_FAILED_STARTS && listening.size === 0) {
      log.fatal(
        { failed_starts: failedStarts, err: lastError },
        '%d workers in a row failed before they could serve; exiting. Last error: %s',
        failedStarts,
        lastError ?? `worker ${signal ?? `exit ${code}`}`,
      );
      stopping = true;
      restarts.forEach(clearTimeout);
      for (const other of startedAt.keys()) other.process.kill('SIGKILL');
      exitWhenLogged(log, 1);
      return;
    }
    if (lived > STABLE_AFTER_MS) delay = FIRST_RESTART_DELAY_MS;
    log.error(
      { worker_pid: worker.process.pid, code, signal, restart_in_ms: delay },
      'Worker %s died (%s); restarting in %d ms',
      String(worker.process.pid),
      signal ?? `exit ${code}`,
      delay,
    );
    const timer = setTimeout(() => {
      restarts.delete(timer);
      fork();
    }, delay);
    restarts.add(timer);
    delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // A restart still waiting would fork a worker nobody stops.
    restarts.forEach(clearTimeout);
    restarts.clear();
    log.info({ signal, workers: startedAt.size }, 'Shutting down %d workers (%s)', startedAt.size, signal);
    // Like a single process: 0 when every worker completed its shutdown, 1 when one timed out
    // (exit 1) or did not stop in time, so a process manager can tell them apart.
    const force = setTimeout(() => {
      log.warn('Workers did not stop in time; exiting');
      exitWhenLogged(log, 1);
    }, cfg.shutdownTimeoutMs + 1000);
    force.unref();
    let failed = 0;
    const exits = [...startedAt.keys()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          worker.once('exit', (code: number | null) => {
            if (code !== 0) failed++;
            resolve();
          });
          worker.process.kill('SIGTERM');
        }),
    );
    void Promise.all(exits).then(() => {
      if (failed === 0) log.info('All workers stopped');
      else log.error({ failed }, 'All workers stopped; %d did not complete their shutdown', failed);
      exitWhenLogged(log, failed === 0 ? 0 : 1);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  serveClusterMetrics();
  log.info({ workers: cfg.workers }, 'Starting %d workers', cfg.workers);
  for (let i = 0; i < cfg.workers; i++) fork();
}
