// Scenario `connections` (`npm run bench -- --scenario connections`, also in the full run): how many
// ingest sockets one server holds, and what each costs. Single process: as many as its open-files
// limit allows less the headroom, service against the bare-ws baseline with the same count.
// Cluster (--workers=6 --connections=100000): WORKERS=N over a private redis-server.
// The clients come from several load processes (each under its own limit) bound to 127.0.0.2-9;
// they open at a bounded rate, 1 in 100 sends one event a second, heartbeats run at their default
// and two monitors are attached. Figures: RSS and heap per connection, trickle ack p50/p99/max,
// idle CPU, /health response time throughout, time to open all, time to shut down (SIGTERM, 1001).
import { fork } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { sleep } from '../harness/wait.mjs';
import { cpuSeconds, rssBytes, startBroker, startServer } from './server.mjs';
import { BENCH_DIR, QUICK, TARGETS } from './settings.mjs';

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

const HEADROOM = 256; // the service's FD_HEADROOM default
const LOAD_MARGIN = 200; // fds a load process needs besides its sockets
const OPEN_RATE = 5000; // per second, over all load processes
const TRICKLE_EVERY = 100; // 1%
const WINDOWS = QUICK ? { trickleS: 3, idleS: 2, settleS: 1 } : { trickleS: 20, idleS: 35, settleS: 5 };

function openFilesLimit() {
  const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}

function timedHealth(url) {
  const t = performance.now();
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode, ms: performance.now() - t }));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve({ status: 0, ms: performance.now() - t }));
  });
}

async function heapUsed(base) {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;
}

function ask(child, cmd, extra = {}) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send({ cmd, ...extra });
  });
}

async function runTarget(target, count, redisUrl) {
  const limit = openFilesLimit();
  const perLoad = limit - LOAD_MARGIN;
  const loads = Math.max(2, Math.ceil(count / perLoad));
  const server = await startServer(target, redisUrl);
  const base = server.url.replace('ws:', 'http:');
  const rssOf = () => server.pids().reduce((sum, pid) => sum + rssBytes(pid), 0);
  const cpuOf = () => server.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  // Two monitors that read everything.
  const monitors = [0, 1].map(() => new WebSocket(`${server.url}/ws/monitor`, { perMessageDeflate: false }));
  await Promise.all(monitors.map((m) => new Promise((r) => m.once('open', r).once('error', r))));
  monitors.forEach((m) => m.on('error', () => undefined));
  // The last stats frame: with Redis its `instances` list has each worker's own ingest sockets.
  let lastStats;
  monitors[0].on('message', (data) => {
    if (data.subarray(0, 16).toString() === '{"type":"stats",') lastStats = data;
  });
  await sleep(500);
  const rss0 = rssOf();
  const heap0 = await heapUsed(base);
  // /health polled every 250 ms throughout.
  const health = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      health.push(await timedHealth(`${base}/health`));
      await sleep(250);
    }
  })();
  const children = [];
  for (let i = 0; i < loads; i++) {
    const share = Math.floor(count / loads) + (i < count % loads ? 1 : 0);
    const child = fork(join(BENCH_DIR, 'connections-load.mjs'), [], {
      env: {
        PATH: process.env.PATH,
        URL: `${server.url}/ws/behaviour`,
        COUNT: String(share),
        RATE: String(OPEN_RATE / loads),
        TRICKLE_EVERY: String(TRICKLE_EVERY),
        FIRST: String(i * Math.ceil(count / loads)),
      },
    });
    await new Promise((r) => child.once('message', r));
    children.push(child);
  }
  const opening = await Promise.all(children.map((c) => ask(c, 'open')));
  const openS = Math.max(...opening.map((o) => o.seconds));
  const opened = opening.reduce((s, o) => s + o.opened, 0);
  const failed = opening.reduce((s, o) => s + o.failed, 0);
  const refusals = {};
  for (const o of opening)
    for (const [why, n] of Object.entries(o.refusals)) refusals[why] = (refusals[why] ?? 0) + n;
  await sleep(WINDOWS.settleS * 1000);
  const rss1 = rssOf();
  const heap1 = await heapUsed(base);
  // Trickle: 1% send one event a second.
  await Promise.all(children.map((c) => ask(c, 'trickle', { on: true })));
  await sleep(WINDOWS.trickleS * 1000);
  await Promise.all(children.map((c) => ask(c, 'trickle', { on: false })));
  const reports = await Promise.all(children.map((c) => ask(c, 'report')));
  const latencies = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  // Idle: heartbeats only (a window longer than one HEARTBEAT_INTERVAL_MS in the full run).
  const cpu0 = cpuOf();
  const t0 = performance.now();
  await sleep(WINDOWS.idleS * 1000);
  const idleCpu = (cpuOf() - cpu0) / ((performance.now() - t0) / 1000);
  const after = await Promise.all(children.map((c) => ask(c, 'report')));
  const dropped = after.reduce((s, r) => s + r.unexpectedCloses, 0);
  const stillOpen = after.reduce((s, r) => s + r.open, 0);
  const healthBody = await (await fetch(`${base}/health`)).json().catch(() => ({}));
  const perWorker = lastStats ? (JSON.parse(lastStats.toString()).instances ?? []).map((i) => i.active_connections) : [];
  polling = false;
  await poller;
  server.assertAlive();
  // Shutdown: SIGTERM, until the process exits and every client has its close.
  await Promise.all(children.map((c) => ask(c, 'expect-shutdown')));
  const s0 = performance.now();
  const exitStatus = await server.stop();
  // The server's own part: SIGTERM to process exit (at SHUTDOWN_TIMEOUT_MS - 0.1 s it gave up, exit 1).
  const serverExitS = (performance.now() - s0) / 1000;
  const closing = await Promise.all(children.map((c) => ask(c, 'closed', { timeoutMs: 15_000 })));
  const shutdownS = (performance.now() - s0) / 1000;
  monitors.forEach((m) => m.terminate());
  const closeCodes = {};
  for (const c of closing)
    for (const [code, n] of Object.entries(c.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + n;
  const healthMs = health
    .filter((h) => h.status === 200)
    .map((h) => h.ms)
    .sort((a, b) => a - b);
  const per = (bytes) => (opened > 0 ? bytes / opened : null);
  return {
    target: target.label,
    connections: count,
    opened,
    refused: failed,
    refusals,
    load_processes: loads,
    open_all_s: openS,
    rss_per_conn_kib: per(rss1 - rss0) / 1024,
    heap_per_conn_kib: heap0 !== null && heap1 !== null ? per(heap1 - heap0) / 1024 : null,
    rss_total_mib: rss1 / 2 ** 20,
    ack_p50_ms: percentile(latencies, 50),
    ack_p99_ms: percentile(latencies, 99),
    ack_max_ms: latencies.at(-1) ?? null,
    trickle_acks: latencies.length,
    idle_cpu_pct_of_core: idleCpu * 100,
    health_polls: health.length,
    health_failed: health.length - healthMs.length,
    health_p99_ms: percentile(healthMs, 99),
    health_max_ms: healthMs.at(-1) ?? null,
    health_active_connections: healthBody.active_connections ?? null,
    // Cluster only: each worker's ingest sockets (SO_REUSEPORT spreads them by a hash of the 4-tuple).
    per_worker_connections: perWorker.length > 1 ? perWorker.toSorted((a, b) => b - a) : null,
    dropped_unexpectedly: dropped,
    open_before_shutdown: stillOpen,
    server_exit_s: serverExitS,
    /** 0: shutdown completed; 1: it timed out (or a cluster worker did); a signal name: killed. */
    server_exit_status: exitStatus,
    shutdown_s: shutdownS,
    close_codes: closeCodes,
  };
}

/** Runs the scenario; returns its rows (service, baseline, and the cluster when asked). */
export async function runConnections(redisBinary) {
  const limit = openFilesLimit();
  const single = Number(option('connections') ?? (QUICK ? 300 : limit - HEADROOM - 256));
  const workers = Number(option('workers') ?? 0);
  console.error(`Node ${process.version}; open-files limit ${limit}`);
  const rows = [];
  if (workers > 1) {
    if (!redisBinary) throw new Error('the cluster run needs redis-server (REDIS_SERVER_PATH)');
    const redis = await startBroker('redis', redisBinary);
    try {
      const target = {
        label: `service (WORKERS=${workers})`,
        main: TARGETS.service.main,
        workers,
        env: { MAX_CONNECTIONS: String(single + 1000) },
      };
      rows.push(await runTarget(target, single, redis.url));
    } finally {
      await redis.stop();
    }
  } else {
    for (const t of ['service', 'baseline']) {
      const target = { ...TARGETS[t], env: { MAX_CONNECTIONS: String(single + 1000) } };
      rows.push(await runTarget(target, single));
      console.error(JSON.stringify(rows.at(-1)));
    }
  }
  return rows;
}

const FIGURES = [
  ['connections', 'connections asked', (v) => v],
  ['opened', 'opened', (v) => v],
  ['refusals', 'not opened (why)', (v) => JSON.stringify(v)],
  ['open_all_s', 'time to open all (s)', (v) => v?.toFixed(1)],
  ['rss_per_conn_kib', 'RSS per connection (KiB)', (v) => v?.toFixed(2)],
  ['heap_per_conn_kib', 'heap per connection (KiB)', (v) => v?.toFixed(2)],
  ['ack_p50_ms', 'trickle ack p50 (ms)', (v) => v?.toFixed(2)],
  ['ack_p99_ms', 'trickle ack p99 (ms)', (v) => v?.toFixed(2)],
  ['ack_max_ms', 'trickle ack max (ms)', (v) => v?.toFixed(2)],
  ['idle_cpu_pct_of_core', 'idle CPU (% of a core)', (v) => v?.toFixed(2)],
  ['health_p99_ms', '/health p99 (ms)', (v) => v?.toFixed(1)],
  ['health_max_ms', '/health max (ms)', (v) => v?.toFixed(1)],
  ['health_failed', '/health polls failed', (v) => v],
  ['health_active_connections', '/health active_connections', (v) => v],
  ['per_worker_connections', 'connections per worker', (v) => v?.join(' / ')],
  ['dropped_unexpectedly', 'dropped unexpectedly', (v) => v],
  ['server_exit_s', 'shutdown, SIGTERM to server exit (s)', (v) => v?.toFixed(2)],
  ['server_exit_status', 'server exit code (0: completed, 1: timed out) or signal', (v) => String(v)],
  ['shutdown_s', 'shutdown, SIGTERM to every client closed (s)', (v) => v?.toFixed(2)],
  ['close_codes', 'close codes seen', (v) => JSON.stringify(v)],
];

export function connectionsMarkdown(rows) {
  const head = `| Figure | ${rows.map((r) => r.target).join(' | ')} |${rows.length === 2 ? ' service / baseline |' : ''}`;
  const lines = [head, `|---|${rows.map(() => '---|').join('')}${rows.length === 2 ? '---|' : ''}`];
  for (const [key, label, fmt] of FIGURES) {
    const cells = rows.map((r) => fmt(r[key]) ?? 'n/a');
    let ratio = '';
    if (rows.length === 2) {
      const [a, b] = rows.map((r) => r[key]);
      ratio = typeof a === 'number' && typeof b === 'number' && b !== 0 ? ` ${(a / b).toFixed(2)}× |` : ' |';
    }
    lines.push(`| ${label} | ${cells.join(' | ')} |${ratio}`);
  }
  return lines.join('\n');
}
