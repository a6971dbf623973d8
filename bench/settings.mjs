// What to run: the command-line options, the scenarios and their settings, and where things live.
// Every other bench module reads its parameters from here.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRedisServer } from './redis-server.mjs';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const BUILD = join(ROOT, 'dist');
// The service runs from a copy of the build, so a rebuild in this checkout while the bench runs
// (`npm test` starts with one) can neither pull it away nor mix two builds into one result.
export const SNAPSHOT = join(RESULTS_DIR, '.service');
const SERVICE_MAIN = join(SNAPSHOT, 'dist', 'main.js');
const BASELINE_MAIN = join(BENCH_DIR, 'baseline-server.mjs');
export const WORKER = join(BENCH_DIR, 'load-worker.mjs');

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
export const QUICK = args.includes('--quick');

export const FLUSH_MS = 50;
export const BATCH_MAX = 256;
export const LOAD_WORKERS = 2;
export const SETTINGS = QUICK
  ? { reps: 1, warmupS: 0.3, measureS: 1, idleConnections: 500, settleS: 0.5 }
  : { reps: 3, warmupS: 1.5, measureS: 3, idleConnections: 10_000, settleS: 1.5 };
SETTINGS.reps = Number(option('reps') ?? SETTINGS.reps);

export const SCENARIOS = [
  { id: 1, name: 'throughput', title: '50 conns × 8 in flight', connections: 50, inFlight: 8 },
  {
    id: 2,
    name: 'monitors',
    title: '50 conns × 8 in flight, 2 monitors',
    connections: 50,
    inFlight: 8,
    monitors: 2,
  },
  { id: 3, name: 'latency', title: '50 conns × 1 in flight', connections: 50, inFlight: 1 },
  {
    id: 4,
    name: 'idle',
    title: `${SETTINGS.idleConnections.toLocaleString('en-US')} idle conns`,
    idle: SETTINGS.idleConnections,
  },
  {
    id: 5,
    name: 'malformed',
    title: '50 conns × 8 in flight, 10% malformed',
    connections: 50,
    inFlight: 8,
    malformedRatio: 0.1,
  },
  {
    id: 6,
    name: 'scale-out',
    title: 'WORKERS=2 with Redis, 50 conns × 8 in flight, 2 monitors',
    connections: 50,
    inFlight: 8,
    monitors: 2,
    targets: ['cluster'],
    // Measured inside scenario 2's repetitions (service, baseline, cluster: A B C A B C), so it is
    // compared with figures taken under the same conditions rather than minutes apart.
    runsWith: 2,
  },
];

export const CLUSTER_WORKERS = 2;
export const TARGETS = {
  service: { label: 'service', main: SERVICE_MAIN },
  baseline: { label: 'baseline', main: BASELINE_MAIN },
  cluster: { label: `service (WORKERS=${CLUSTER_WORKERS})`, main: SERVICE_MAIN, workers: CLUSTER_WORKERS },
};

/** The scenarios this run measures (--scenarios=1,3), the redis-server for scenario 6, and those skipped. */
export function selectScenarios() {
  const only = option('scenarios')?.split(',').map(Number);
  const redis = !only || only.includes(6) ? findRedisServer() : {};
  if (only?.includes(6) && !only.includes(2) && redis.binary !== undefined) {
    console.error('Scenario 6 is compared with scenario 2 and runs within it: running scenario 2 too.');
    only.push(2);
  }
  const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;
  const skipped = new Map();
  if (scenarios.some((s) => s.id === 6) && redis.binary === undefined) {
    skipped.set(6, redis.missing);
    console.error(`Skipping scenario 6 (WORKERS=2 with Redis): ${redis.missing}.`);
  }
  return { scenarios, redisBinary: redis.binary, skipped };
}
