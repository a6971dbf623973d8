// `npm run bench`: measures the service (dist/main.js, one process) against bench/baseline-server.mjs
// (the same job on bare ws) under the same load, alternating them (A B A B) with a fresh server
// process per run, and reports medians, their ranges and the ratio service / baseline. Scenario 6
// runs the service as WORKERS=2 over a private redis-server and compares it with scenario 2.
// Options: --quick (tiny durations, for `npm test`), --reps=N, --scenarios=1,3.
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { get as httpGet } from 'node:http';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { framePool } from './frames.mjs';
import { findRedisServer, startRedis } from './redis-server.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS_DIR = join(BENCH_DIR, 'results');
const BUILD = join(ROOT, 'dist');
// The service runs from a copy of the build, so a rebuild in this checkout while the bench runs
// (`npm test` starts with one) can neither pull it away nor mix two builds into one result.
const SNAPSHOT = join(RESULTS_DIR, '.service');
const SERVICE_MAIN = join(SNAPSHOT, 'dist', 'main.js');
const BASELINE_MAIN = join(BENCH_DIR, 'baseline-server.mjs');
const WORKER = join(BENCH_DIR, 'load-worker.mjs');

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const QUICK = args.includes('--quick');

const FLUSH_MS = 50;
const BATCH_MAX = 256;
const LOAD_WORKERS = 2;
const SETTINGS = QUICK
  ? { reps: 1, warmupS: 0.3, measureS: 1, idleConnections: 500, settleS: 0.5 }
  : { reps: 3, warmupS: 1.5, measureS: 3, idleConnections: 10_000, settleS: 1.5 };
SETTINGS.reps = Number(option('reps') ?? SETTINGS.reps);

const SCENARIOS = [
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
const only = option('scenarios')?.split(',').map(Number);
const REDIS = !only || only.includes(6) ? findRedisServer() : {};
if (only?.includes(6) && !only.includes(2) && REDIS.binary !== undefined) {
  console.error('Scenario 6 is compared with scenario 2 and runs within it: running scenario 2 too.');
  only.push(2);
}
const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;
const SKIPPED = new Map();
if (scenarios.some((s) => s.id === 6) && REDIS.binary === undefined) {
  SKIPPED.set(6, REDIS.missing);
  console.error(`Skipping scenario 6 (WORKERS=2 with Redis): ${REDIS.missing}.`);
}

const FRAMES = framePool(0, 0);

const CLUSTER_WORKERS = 2;
const TARGETS = {
  service: { label: 'service', main: SERVICE_MAIN },
  baseline: { label: 'baseline', main: BASELINE_MAIN },
  cluster: { label: `service (WORKERS=${CLUSTER_WORKERS})`, main: SERVICE_MAIN, workers: CLUSTER_WORKERS },
};

/** The figures the table shows, in order, and how to print them. */
const FIGURES = [
  { key: 'acks_per_s', label: 'acks/s', digits: 0 },
  { key: 'latency_p50_ms', label: 'ack latency p50 (ms)', digits: 2 },
  { key: 'latency_p99_ms', label: 'ack latency p99 (ms)', digits: 2 },
  { key: 'latency_max_ms', label: 'ack latency max (ms)', digits: 1 },
  { key: 'cpu_s_per_100k', label: 'server CPU s / 100k frames', digits: 2 },
  { key: 'rss_mib', label: 'server RSS (MiB)', digits: 1 },
  { key: 'kib_per_connection', label: 'memory per idle conn (KiB)', digits: 2 },
  { key: 'monitor_frames_per_s', label: 'events frames / monitor / s', digits: 1 },
  { key: 'monitor_events_per_s', label: 'events / monitor / s', digits: 0 },
  // Not a figure of the server: how busy the rest of the machine was, to judge the run by.
  { key: 'other_cpu', label: 'other processes (cores)', digits: 2, noRatio: true },
];

// --- the server process ---------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds the whole machine has spent busy (all cores), from the first line of /proc/stat. */
function machineBusySeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

/** This process (orchestrator and load-generator threads), in seconds. */
function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) * 1024;
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

/** The pids of a process's children (a WORKERS > 1 primary's cluster workers), sorted. */
function childPids(pid) {
  let pids;
  try {
    pids = readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    // Kernels built without CONFIG_PROC_CHILDREN have no children files.
    try {
      pids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      pids = []; // pgrep exits 1 when there are none
    }
  }
  return pids.sort((a, b) => a - b);
}

/** GET on a fresh connection (so the cluster primary hands each request to the next worker). */
function httpStatus(url) {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
  });
}

/** Waits until `times` readiness checks in a row answer 200: with round-robin, every worker has. */
async function untilReady(baseUrl, times) {
  const deadline = Date.now() + 10_000;
  for (let inARow = 0; inARow < times;) {
    if (Date.now() > deadline) throw new Error(`${baseUrl}/health/ready did not answer 200 in 10 s`);
    if ((await httpStatus(`${baseUrl}/health/ready`)) === 200) inARow++;
    else {
      inARow = 0;
      await sleep(50);
    }
  }
}

/**
 * Starts a fresh server process. With `target.workers` it is a node:cluster primary whose workers
 * share the port and talk through `redisUrl`; it is ready once every worker listens and answers
 * /health/ready (Redis connected, so ids can be leased).
 */
async function startServer(target, redisUrl) {
  const workers = target.workers ?? 1;
  // A clean environment and an empty working directory: no developer .env or LOG_LEVEL leaks in.
  const cwd = mkdtempSync(join(os.tmpdir(), 'cbsa-bench-'));
  const proc = spawn(process.execPath, [target.main], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'INFO',
      MONITOR_FLUSH_MS: String(FLUSH_MS),
      MONITOR_BATCH_MAX: String(BATCH_MAX),
      // The idle scenario opens exactly the default cap's worth of sockets; the cap is not under test.
      MAX_CONNECTIONS: String(Math.max(10_000, 2 * SETTINGS.idleConnections)),
      ...(workers > 1 && { WORKERS: String(workers), REDIS_URL: redisUrl }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let partial = '';
  let err = '';
  let listening = 0;
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${target.label} did not start:\n${log}${err}`)), 20_000);
    proc.stdout.on('data', (chunk) => {
      // Keep reading (and dropping) the log, so a full pipe never blocks the server.
      if (listening === workers) return;
      log = (log + chunk).slice(-8192);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        // Cluster workers that listen on port 0 all get the same port from the primary.
        const m = /listening on http:\/\/[^\s:]+:(\d+) /.exec(line);
        if (m && ++listening === workers) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    });
    proc.stderr.on('data', (chunk) => (err = (err + chunk).slice(-4096)));
    void exited.then((code) => reject(new Error(`${target.label} exited (${code}) on start:\n${log}${err}`)));
  });
  let dead = false;
  void exited.then(() => (dead = true));
  const children = workers > 1 ? childPids(proc.pid) : [];
  const stop = async () => {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      // Workers exit when their primary's IPC channel closes; this is for one that hangs.
      for (const pid of children) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(cwd, { recursive: true, force: true });
  };
  try {
    if (workers > 1) {
      if (children.length !== workers) {
        throw new Error(`${target.label}: expected ${workers} workers, found pids [${children}]`);
      }
      await untilReady(`http://127.0.0.1:${port}`, 2 * workers);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    pid: proc.pid,
    url: `ws://127.0.0.1:${port}`,
    /** The server's processes: the primary and its workers, or the one process. */
    pids: () => [proc.pid, ...children],
    /** Throws if the server died, or (cluster) a worker was replaced since it started. */
    assertAlive() {
      if (dead) throw new Error(`${target.label} died during the run:\n${err}`);
      if (workers > 1 && childPids(proc.pid).join() !== children.join()) {
        throw new Error(
          `${target.label}: a worker died during the run (workers now [${childPids(proc.pid)}]):\n${err}`,
        );
      }
    },
    stop,
  };
}

// --- the load generator ---------------------------------------------------------------------

class LoadWorker {
  constructor(data) {
    this.worker = new Worker(WORKER, { workerData: data });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.ready = this.next('ready');
  }

  /** The next message of `type` from the worker; rejects if the worker fails first. */
  next(type) {
    return new Promise((resolve, reject) => {
      const onMessage = (msg) => {
        if (msg.type === 'failed') reject(new Error(`load worker: ${msg.error}`));
        else if (msg.type !== type) return;
        else resolve(msg);
        this.worker.off('message', onMessage);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
      this.worker.once('exit', () => reject(new Error(`load worker exited before sending "${type}"`)));
    });
  }

  send(cmd) {
    this.worker.postMessage({ cmd });
  }

  async stop() {
    this.send('stop');
    await this.exited;
  }
}

/** Splits `total` connections over `count` workers. */
function share(total, count) {
  return Array.from({ length: count }, (_, i) => Math.floor(total / count) + (i < total % count ? 1 : 0));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

async function runLoad(scenario, server, redis) {
  const workers = [];
  try {
    // Monitors attach before any frame is sent, so they see the whole measured window.
    let monitorWorker;
    if (scenario.monitors) {
      monitorWorker = new LoadWorker({ role: 'monitor', url: server.url, connections: scenario.monitors });
      workers.push(monitorWorker);
      await monitorWorker.ready;
    }
    const ingest = share(scenario.connections, LOAD_WORKERS).map(
      (connections, index) =>
        new LoadWorker({
          role: 'ingest',
          url: server.url,
          connections,
          inFlight: scenario.inFlight,
          malformedRatio: scenario.malformedRatio ?? 0,
          index,
        }),
    );
    workers.push(...ingest);
    await Promise.all(ingest.map((w) => w.ready));
    await sleep(SETTINGS.warmupS * 1000);

    server.assertAlive();
    // CPU and RSS are summed over the primary and its workers (one pid for a single process).
    const pids = server.pids();
    const serverCpu = () => sum(pids.map(cpuSeconds));
    const redisCpu = () => (redis ? cpuSeconds(redis.pid) : 0);
    const cpu0 = serverCpu();
    const redis0 = redisCpu();
    const own0 = ownCpuSeconds();
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    for (const w of workers) w.send('measure');
    await sleep(SETTINGS.measureS * 1000);
    const reports = workers.map((w) => w.next('report'));
    for (const w of workers) w.send('report');
    server.assertAlive();
    const cpu = serverCpu() - cpu0;
    const redisUsed = redisCpu() - redis0;
    const own = ownCpuSeconds() - own0;
    const busy = machineBusySeconds() - busy0;
    const seconds = (performance.now() - t0) / 1000;
    const rss = sum(pids.map(rssBytes));
    const done = await Promise.all(reports);

    const ingestReports = done.slice(monitorWorker ? 1 : 0);
    const acksPerS = ingestReports.reduce((sum, r) => sum + r.acks / r.seconds, 0);
    const latencies = Float64Array.from(ingestReports.flatMap((r) => Array.from(r.latencies))).sort();
    const figures = {
      acks_per_s: acksPerS,
      error_ack_share: ingestReports.reduce((s, r) => s + r.errorAcks, 0) / Math.max(1, latencies.length),
      latency_p50_ms: percentile(latencies, 0.5),
      latency_p99_ms: percentile(latencies, 0.99),
      latency_max_ms: latencies.length > 0 ? latencies[latencies.length - 1] : null,
      cpu_s_per_100k: acksPerS > 0 ? (cpu / (acksPerS * seconds)) * 100_000 : null,
      cpu_utilisation: cpu / seconds,
      load_generator_cpu: own / seconds,
      // Cores other processes kept busy during the window: the noise this run was measured under.
      other_cpu: Math.max(0, (busy - cpu - own - redisUsed) / seconds),
      rss_mib: rss / 2 ** 20,
      server_processes: pids.length,
    };
    if (redis) {
      figures.redis_cpu_s_per_100k = acksPerS > 0 ? (redisUsed / (acksPerS * seconds)) * 100_000 : null;
      figures.redis_cpu_utilisation = redisUsed / seconds;
      figures.redis_rss_mib = rssBytes(redis.pid) / 2 ** 20;
    }
    if (monitorWorker) {
      const { monitors, seconds: mSeconds } = done[0];
      const mean = (f) => monitors.reduce((s, m) => s + f(m), 0) / monitors.length;
      figures.monitor_frames_per_s = mean((m) => m.frames / mSeconds);
      figures.monitor_frames_max = Math.max(...monitors.map((m) => m.frames));
      figures.monitor_window_s = mSeconds;
      figures.monitor_events_per_s = mean((m) => m.events / mSeconds);
    }
    return figures;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function runIdle(scenario, server) {
  await sleep(SETTINGS.settleS * 1000);
  const before = rssBytes(server.pid);
  const t0 = performance.now();
  const workers = share(scenario.idle, LOAD_WORKERS).map(
    (connections) => new LoadWorker({ role: 'idle', url: server.url, connections }),
  );
  try {
    const ready = await Promise.all(workers.map((w) => w.ready));
    const connectS = (performance.now() - t0) / 1000;
    const open = ready.reduce((sum, r) => sum + r.open, 0);
    await sleep(SETTINGS.settleS * 1000);
    server.assertAlive();
    const after = rssBytes(server.pid);
    return {
      connections: open,
      connections_per_s: open / connectS,
      rss_before_mib: before / 2 ** 20,
      rss_mib: after / 2 ** 20,
      kib_per_connection: (after - before) / 1024 / open,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function runOnce(scenario, target) {
  // A cluster gets its own empty redis-server, started before and stopped after it.
  const redis = target.workers > 1 ? await startRedis(REDIS.binary) : undefined;
  try {
    const server = await startServer(target, redis?.url);
    try {
      return await (scenario.idle ? runIdle(scenario, server) : runLoad(scenario, server, redis));
    } finally {
      await server.stop();
    }
  } finally {
    await redis?.stop();
  }
}

// --- figures and report ---------------------------------------------------------------------

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function summarise(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const med = {};
  const range = {};
  for (const key of keys) {
    const values = runs.map((r) => r[key]).filter((x) => typeof x === 'number');
    med[key] = median(values);
    range[key] = values.length > 0 ? [Math.min(...values), Math.max(...values)] : null;
  }
  return { median: med, range };
}

const fmt = (x, digits) =>
  x === null || x === undefined
    ? '–'
    : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

function targetChecks(byId) {
  const checks = [];
  const ratio = (id, key) => byId[id]?.ratio[key] ?? null;
  const add = (name, scenario, measured, limit, ok, unit = '× baseline') =>
    checks.push({ name, scenario, measured, limit, unit, met: measured === null ? null : ok(measured) });
  if (byId[1]) add('Throughput', 1, ratio(1, 'acks_per_s'), '≥ 0.90', (r) => r >= 0.9);
  if (byId[2]) add('Throughput with 2 monitors', 2, ratio(2, 'acks_per_s'), '≥ 0.85', (r) => r >= 0.85);
  if (byId[3]) add('p99 ack latency', 3, ratio(3, 'latency_p99_ms'), '≤ 1.25', (r) => r <= 1.25);
  if (byId[4]) add('Memory per idle connection', 4, ratio(4, 'kib_per_connection'), '≤ 1.5', (r) => r <= 1.5);
  if (byId[2]) {
    // One frame per flush interval, allowing the one extra frame a window boundary can catch.
    const runs = byId[2].runs.filter((r) => r.target === 'service');
    const allowed = (r) => r.figures.monitor_window_s * (1000 / FLUSH_MS) + 1;
    add(
      'Events frames per monitor per second',
      2,
      byId[2].service.monitor_frames_per_s,
      `≤ ${1000 / FLUSH_MS} (1000 / ${FLUSH_MS} ms)`,
      () => runs.every((r) => r.figures.monitor_frames_max <= allowed(r)),
      'frames/s',
    );
  }
  return checks;
}

/** A median with its range over the runs, when they differ. */
function cell(sc, column, key, digits) {
  const [lo, hi] = sc.range[column]?.[key] ?? [];
  const rangeText = lo !== undefined && lo !== hi ? ` (${fmt(lo, digits)}–${fmt(hi, digits)})` : '';
  return fmt(sc[column][key], digits) + rangeText;
}

/** The figures scenario 6 shows: the load figures, then how the processes shared the machine. */
const SCALE_OUT_FIGURES = [
  ...FIGURES.filter((f) => !['kib_per_connection', 'other_cpu'].includes(f.key)).map(
    (f) =>
      ({
        cpu_s_per_100k: { ...f, label: 'server CPU s / 100k frames (primary + workers)' },
        rss_mib: { ...f, label: 'server RSS (MiB, primary + workers)' },
      })[f.key] ?? f,
  ),
  { key: 'cpu_utilisation', label: 'server CPU (cores busy)', digits: 2 },
  { key: 'redis_cpu_s_per_100k', label: 'redis-server CPU s / 100k frames', digits: 2, noRatio: true },
  { key: 'load_generator_cpu', label: 'load generator (cores busy)', digits: 2, noRatio: true },
  ...FIGURES.filter((f) => f.key === 'other_cpu'),
];

function scaleOutTable(sc, result) {
  const ref = sc.measured_with;
  const lines = [
    `Scenario ${sc.id}. ${sc.title}: the load of scenario ${ref} on node:cluster (primary + ` +
      `${sc.load.workers} workers sharing the port) with a private redis-server (monitor events on the ` +
      `Redis bus, ids leased from Redis), run right after scenario ${ref}'s pair in each repetition. ` +
      `Reported, not a target. Every process, and the load generator, shares the ${result.machine.cores} cores.`,
    '',
    `| Figure | Service, WORKERS=${sc.load.workers} + Redis | Service, 1 process (scenario ${ref}) | ` +
      `Scale-out gain (${sc.load.workers} workers / 1 process) | Baseline, 1 process (scenario ${ref}) | ` +
      `vs single-process baseline (scenario ${ref}) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const f of SCALE_OUT_FIGURES) {
    if (sc.service[f.key] === undefined) continue;
    const ratio = (column) => (f.noRatio ? '' : fmt(sc[column][f.key], 2));
    lines.push(
      `| ${f.label} | ${cell(sc, 'service', f.key, f.digits)} | ${cell(sc, 'single_process', f.key, f.digits)} | ` +
        `${ratio('scale_out_gain')} | ${cell(sc, 'baseline', f.key, f.digits)} | ${ratio('ratio')} |`,
    );
  }
  return lines;
}

function markdown(result) {
  const { machine: m, settings: s } = result;
  const lines = [
    `CBSA service vs bare \`ws\` baseline — ${m.cpu}, ${m.cores} cores, Node ${m.node}; ` +
      `median of ${s.reps} run(s) each, alternated; ${s.warmup_s} s warm-up + ${s.measure_s} s measured` +
      (result.quick ? ' (--quick: figures are not meaningful)' : ''),
    '',
    '| Scenario | Figure | Service | Baseline | Service / baseline |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const sc of result.scenarios) {
    if (sc.skipped !== undefined || sc.measured_with !== undefined) continue;
    let first = true;
    for (const f of FIGURES) {
      if (sc.service[f.key] === undefined && sc.baseline[f.key] === undefined) continue;
      lines.push(
        `| ${first ? `${sc.id}. ${sc.title}` : ''} | ${f.label} | ${cell(sc, 'service', f.key, f.digits)} | ` +
          `${cell(sc, 'baseline', f.key, f.digits)} | ${f.noRatio ? '' : fmt(sc.ratio[f.key], 2)} |`,
      );
      first = false;
    }
  }
  for (const sc of result.scenarios) {
    if (sc.skipped !== undefined) lines.push('', `Scenario ${sc.id} (${sc.title}) skipped: ${sc.skipped}.`);
    else if (sc.measured_with !== undefined) lines.push('', ...scaleOutTable(sc, result));
  }
  lines.push('', '| Target | Scenario | Measured | Limit | Met |', '| --- | ---: | ---: | ---: | --- |');
  for (const t of result.targets) {
    const met = t.met === null ? '–' : t.met ? 'yes' : '**no**';
    lines.push(`| ${t.name} | ${t.scenario} | ${fmt(t.measured, 2)} ${t.unit} | ${t.limit} | ${met} |`);
  }
  const other = result.scenarios
    .flatMap((sc) => sc.runs.map((r) => r.figures.other_cpu))
    .filter((x) => typeof x === 'number');
  lines.push('', 'Figures in parentheses are the range over the runs.');
  if (other.length > 0) {
    lines.push(
      `Other processes kept ${fmt(Math.min(...other), 2)}–${fmt(Math.max(...other), 2)} cores busy ` +
        'during the measured windows' +
        (Math.max(...other) > 0.1 ? ': the machine was not quiet, so read ratios with their ranges.' : '.'),
    );
  }
  return lines.join('\n');
}

// --- main -----------------------------------------------------------------------------------

/** Copies dist/ beside links to what it reads from the package root (package.json, public/, node_modules/). */
function snapshotBuild() {
  if (!existsSync(join(BUILD, 'main.js'))) {
    console.error(
      `${relative(process.cwd(), BUILD)}/main.js is missing: run \`npm run bench\` (it builds first).`,
    );
    process.exit(1);
  }
  rmSync(SNAPSHOT, { recursive: true, force: true });
  mkdirSync(SNAPSHOT, { recursive: true });
  cpSync(BUILD, join(SNAPSHOT, 'dist'), { recursive: true });
  for (const name of ['package.json', 'public', 'node_modules'])
    symlinkSync(join(ROOT, name), join(SNAPSHOT, name));
}

function gitRevision() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', 'HEAD'),
      src_modified: git('status', '--porcelain', '--', 'src') !== '',
    };
  } catch {
    return null;
  }
}

snapshotBuild();

async function runAndLog(scenario, target, rep) {
  const t = performance.now();
  const figures = await runOnce(scenario, TARGETS[target]);
  const shown = scenario.idle
    ? `${fmt(figures.kib_per_connection, 2)} KiB/conn, RSS ${fmt(figures.rss_mib, 1)} MiB`
    : `${fmt(figures.acks_per_s, 0)} acks/s, p99 ${fmt(figures.latency_p99_ms, 2)} ms, ` +
      `server CPU ${fmt(figures.cpu_utilisation * 100, 0)}%, ` +
      (figures.redis_cpu_utilisation === undefined
        ? ''
        : `redis-server CPU ${fmt(figures.redis_cpu_utilisation * 100, 0)}%, `) +
      `other processes ${fmt(figures.other_cpu * 100, 0)}%` +
      (figures.monitor_frames_per_s === undefined
        ? ''
        : `, ${fmt(figures.monitor_frames_per_s, 1)} monitor frames/s`) +
      (figures.error_ack_share > 0 ? `, ${fmt(figures.error_ack_share * 100, 1)}% error acks` : '');
  console.error(
    `[${scenario.id}. ${scenario.name}] ${target.padEnd(8)} rep ${rep}: ${shown} ` +
      `(${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
  return { target, rep, figures };
}

/** a / b for every figure of a, or null where either is missing or b is 0. */
function ratios(a, b) {
  return Object.fromEntries(
    Object.keys(a).map((key) => [key, a[key] !== null && b[key] ? a[key] / b[key] : null]),
  );
}

function loadOf(scenario) {
  const { connections = null, inFlight = null, monitors = 0 } = scenario;
  return {
    connections: connections ?? scenario.idle,
    in_flight: inFlight,
    monitors,
    malformed_ratio: scenario.malformedRatio ?? 0,
    idle: Boolean(scenario.idle),
  };
}

function scenarioResult(scenario, runs) {
  const summary = {
    service: summarise(runs.filter((r) => r.target === 'service').map((r) => r.figures)),
    baseline: summarise(runs.filter((r) => r.target === 'baseline').map((r) => r.figures)),
  };
  const { id, name, title } = scenario;
  return {
    id,
    name,
    title,
    load: loadOf(scenario),
    service: summary.service.median,
    baseline: summary.baseline.median,
    ratio: ratios(summary.service.median, summary.baseline.median),
    range: { service: summary.service.range, baseline: summary.baseline.range },
    runs,
  };
}

/**
 * Scenario 6: `service` is the cluster; `baseline` is scenario 2's (single-process) baseline, the
 * very figures scenario 2 shows; `single_process` is scenario 2's service. Its own runs are the
 * cluster's only.
 */
function scaleOutResult(scenario, runs, reference) {
  const cluster = summarise(runs.map((r) => r.figures));
  const { id, name, title } = scenario;
  return {
    id,
    name,
    title,
    load: { ...loadOf(scenario), workers: CLUSTER_WORKERS, redis: true },
    measured_with: reference.id,
    service: cluster.median,
    baseline: reference.baseline,
    single_process: reference.service,
    ratio: ratios(cluster.median, reference.baseline),
    scale_out_gain: ratios(cluster.median, reference.service),
    comparisons: {
      ratio: `service with WORKERS=${CLUSTER_WORKERS} + Redis / single-process baseline (scenario ${reference.id})`,
      scale_out_gain: `service with WORKERS=${CLUSTER_WORKERS} + Redis / single-process service (scenario ${reference.id}, same run)`,
    },
    range: {
      service: cluster.range,
      baseline: reference.range.baseline,
      single_process: reference.range.service,
    },
    runs,
  };
}

const started = Date.now();
const runsOf = new Map(scenarios.map((s) => [s.id, []]));
for (const scenario of scenarios.filter((s) => s.runsWith === undefined)) {
  const riders = scenarios.filter((s) => s.runsWith === scenario.id && !SKIPPED.has(s.id));
  for (let rep = 1; rep <= SETTINGS.reps; rep++) {
    for (const sc of [scenario, ...riders]) {
      for (const target of sc.targets ?? ['service', 'baseline']) {
        runsOf.get(sc.id).push(await runAndLog(sc, target, rep));
      }
    }
  }
}
const results = [];
for (const scenario of scenarios) {
  const runs = runsOf.get(scenario.id);
  if (SKIPPED.has(scenario.id)) {
    const { id, name, title } = scenario;
    results.push({ id, name, title, load: loadOf(scenario), skipped: SKIPPED.get(id), runs });
  } else if (scenario.runsWith !== undefined) {
    results.push(
      scaleOutResult(
        scenario,
        runs,
        results.find((r) => r.id === scenario.runsWith),
      ),
    );
  } else {
    results.push(scenarioResult(scenario, runs));
  }
}

const byId = Object.fromEntries(results.map((r) => [r.id, r]));
const result = {
  created_at: new Date().toISOString(),
  quick: QUICK,
  duration_s: Math.round((Date.now() - started) / 100) / 10,
  machine: machine(),
  revision: gitRevision(),
  settings: {
    reps: SETTINGS.reps,
    order:
      'service, baseline per repetition (A B A B), fresh server process per run; scenario 6 ' +
      `(WORKERS=${CLUSTER_WORKERS}, fresh redis-server per run) runs after scenario 2's pair in each repetition`,
    warmup_s: SETTINGS.warmupS,
    measure_s: SETTINGS.measureS,
    load_workers: LOAD_WORKERS,
    frame_bytes: Math.round(FRAMES.reduce((sum, f) => sum + f.length, 0) / FRAMES.length),
    monitor_flush_ms: FLUSH_MS,
    monitor_batch_max: BATCH_MAX,
    log_level: 'INFO',
  },
  scenarios: results,
  targets: targetChecks(byId),
};

mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `${result.created_at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.log(markdown(result));
console.log(`\nRaw figures: ${relative(process.cwd(), file)} (${result.duration_s} s in all)`);
