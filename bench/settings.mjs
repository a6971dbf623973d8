// What to run: the command-line options, the scenarios and their settings, and where things live.
// Every other bench module reads its parameters from here.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary } from '../harness/process.mjs';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const BUILD = join(ROOT, 'dist');
// The service runs from a copy of the build, so a rebuild in this checkout while the bench runs
// (`npm run test:system` starts with one) can neither pull it away nor mix two builds into one result.
export const SNAPSHOT = join(RESULTS_DIR, '.service');
const SERVICE_MAIN = join(SNAPSHOT, 'dist', 'main.js');
const BASELINE_MAIN = join(BENCH_DIR, 'baseline-server.mjs');
export const WORKER = join(BENCH_DIR, 'load-worker.mjs');

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
export const QUICK = args.includes('--quick');
/** --cpu-prof=DIR: every service process writes a V8 CPU profile there when it exits (for profiling). */
export const CPU_PROF_DIR = option('cpu-prof');
/** --sink-pipeline=N: SINK_PIPELINE for the sink rows, SINK=redis-stream and SINK=nats (default: the service's own). */
const SINK_PIPELINE = option('sink-pipeline');

/**
 * --service-env=K=V (repeatable): extra environment for every service process (never the baseline),
 * e.g. --service-env=EVENT_POLICY_FILE=$PWD/examples/keystroke-privacy-policy.json to measure a policy.
 */
export const SERVICE_ENV = Object.fromEntries(
  args
    .filter((a) => a.startsWith('--service-env='))
    .map((a) => {
      const kv = a.slice('--service-env='.length);
      return [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)];
    }),
);

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
  {
    id: 7,
    name: 'modes',
    title: '50 conns × 8 in flight, resumable clients, per sink mode',
    connections: 50,
    inFlight: 8,
    // Every connection opens with ?stream=<id>, reads its resume frame and sends seq 1, 2, … in each
    // frame: the clients the durable modes are built for, in every mode, so the rows compare modes.
    resumable: true,
    targets: ['fast', 'redis-stream', 'nats'],
    // Measured inside scenario 1's repetitions (service, baseline, fast, redis-stream, nats), each
    // mode with a fresh server and a fresh broker of its own.
    runsWith: 1,
  },
];

/** Scenario 7's goals for each sink row, as a ratio to fast mode's row of the same run. */
export const MODE_GOALS = { throughput: 0.7, cpuPerAck: 1.5 };

export const CLUSTER_WORKERS = 2;
export const TARGETS = {
  service: { label: 'service', main: SERVICE_MAIN },
  baseline: { label: 'baseline', main: BASELINE_MAIN },
  cluster: {
    label: `service (WORKERS=${CLUSTER_WORKERS})`,
    main: SERVICE_MAIN,
    workers: CLUSTER_WORKERS,
    broker: 'redis',
  },
  // Scenario 7's modes: one process each; a sink mode gets a fresh, private broker per run.
  fast: { label: 'service, fast mode', main: SERVICE_MAIN },
  'redis-stream': {
    label: 'service, SINK=redis-stream',
    main: SERVICE_MAIN,
    broker: 'redis',
    env: (url) => ({ SINK: 'redis-stream', REDIS_URL: url, ...(SINK_PIPELINE ? { SINK_PIPELINE } : {}) }),
  },
  nats: {
    label: 'service, SINK=nats',
    main: SERVICE_MAIN,
    broker: 'nats',
    env: (url) => ({ SINK: 'nats', NATS_URL: url, ...(SINK_PIPELINE ? { SINK_PIPELINE } : {}) }),
  },
};

/**
 * The scenarios this run measures (--scenarios=1,3), the broker binaries they need, and those
 * skipped. A scenario that runs within another (6 within 2, 7 within 1) brings that one along.
 * Scenario 7 drops the row of a sink whose broker is missing, and says so (`missing`).
 */
export function selectScenarios() {
  const only = option('scenarios')?.split(',').map(Number);
  const wants = (id) => !only || only.includes(id);
  const redis = wants(6) || wants(7) ? findBinary('redis-server', 'REDIS_SERVER_PATH') : {};
  const nats = wants(7) ? findBinary('nats-server', 'NATS_SERVER_PATH') : {};
  // Without redis-server scenario 6 is only recorded as skipped; scenario 7 always has its fast row.
  const riders = [[7, 1], ...(redis.binary !== undefined ? [[6, 2]] : [])];
  for (const [rider, host] of riders) {
    if (only?.includes(rider) && !only.includes(host)) {
      console.error(
        `Scenario ${rider} is compared with scenario ${host} and runs within it: running scenario ${host} too.`,
      );
      only.push(host);
    }
  }
  const scenarios = (only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS).map((s) => {
    if (s.id !== 7) return s;
    const missing = {};
    if (redis.binary === undefined) missing['redis-stream'] = redis.missing;
    if (nats.binary === undefined) missing.nats = nats.missing;
    for (const [mode, why] of Object.entries(missing)) console.error(`Scenario 7: no ${mode} row: ${why}.`);
    return { ...s, targets: s.targets.filter((t) => !(t in missing)), missing };
  });
  const skipped = new Map();
  if (scenarios.some((s) => s.id === 6) && redis.binary === undefined) {
    skipped.set(6, redis.missing);
    console.error(`Skipping scenario 6 (WORKERS=2 with Redis): ${redis.missing}.`);
  }
  return { scenarios, brokers: { redis: redis.binary, nats: nats.binary }, skipped };
}
