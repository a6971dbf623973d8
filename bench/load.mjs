// The load: worker threads (load-worker.mjs) that open the connections and send, and the measured
// window around them, turned into one run's figures.
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { cpuSeconds, machineBusySeconds, ownCpuSeconds, rssBytes, startBroker, startServer } from './server.mjs';
import { LOAD_WORKERS, SETTINGS, WORKER } from './settings.mjs';

const sum = (values) => values.reduce((a, b) => a + b, 0);

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

/**
 * Seconds the service's main thread spent paused in garbage collection so far, from its /metrics
 * (prom-client's nodejs_gc_duration_seconds, every kind); null for a server without it (the bare
 * ws baseline) or a cluster (each worker has its own).
 */
async function gcPauseSeconds(server) {
  if (server.pids().length !== 1) return null;
  try {
    const res = await fetch(server.url.replace(/^ws:/, 'http:') + '/metrics', {
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) return null;
    const sums = [...(await res.text()).matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm)];
    return sums.length > 0 ? sum(sums.map((m) => Number(m[1]))) : null;
  } catch {
    return null;
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

async function runLoad(scenario, server, broker) {
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
          resumable: scenario.resumable ?? false,
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
    // The broker (redis-server, nats-server) is measured apart, from its own /proc/<pid>/stat.
    const brokerCpu = () => (broker ? cpuSeconds(broker.pid) : 0);
    const gc0 = await gcPauseSeconds(server);
    const cpu0 = serverCpu();
    const broker0 = brokerCpu();
    const own0 = ownCpuSeconds();
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    for (const w of workers) w.send('measure');
    await sleep(SETTINGS.measureS * 1000);
    const reports = workers.map((w) => w.next('report'));
    for (const w of workers) w.send('report');
    server.assertAlive();
    const cpu = serverCpu() - cpu0;
    const brokerUsed = brokerCpu() - broker0;
    const own = ownCpuSeconds() - own0;
    const busy = machineBusySeconds() - busy0;
    const seconds = (performance.now() - t0) / 1000;
    const rss = sum(pids.map(rssBytes));
    const done = await Promise.all(reports);
    const gc1 = gc0 === null ? null : await gcPauseSeconds(server);

    const ingestReports = done.slice(monitorWorker ? 1 : 0);
    // Acks are {"status":"received"} and, to resumable clients, {"status":"duplicate"}; never errors.
    const acksPerS = ingestReports.reduce((sum, r) => sum + r.acks / r.seconds, 0);
    const latencies = Float64Array.from(ingestReports.flatMap((r) => Array.from(r.latencies))).sort();
    const figures = {
      acks_per_s: acksPerS,
      // Replies that were not acks, as a share of all replies: the malformed share sent, else 0.
      error_ack_share: ingestReports.reduce((s, r) => s + r.errorAcks, 0) / Math.max(1, latencies.length),
      latency_p50_ms: percentile(latencies, 0.5),
      latency_p99_ms: percentile(latencies, 0.99),
      latency_max_ms: latencies.length > 0 ? latencies[latencies.length - 1] : null,
      cpu_s_per_100k: acksPerS > 0 ? (cpu / (acksPerS * seconds)) * 100_000 : null,
      cpu_utilisation: cpu / seconds,
      load_generator_cpu: own / seconds,
      // Cores other processes kept busy during the window: the noise this run was measured under.
      other_cpu: Math.max(0, (busy - cpu - own - brokerUsed) / seconds),
      rss_mib: rss / 2 ** 20,
      server_processes: pids.length,
      // Ingest sockets the server closed during the run (none is expected in any scenario).
      closed_connections: ingestReports.reduce((s, r) => s + r.closed, 0),
    };
    if (gc1 !== null && acksPerS > 0) {
      // Main-thread GC pauses only (the collector's helper threads are in the CPU figure, not here).
      figures.gc_pause_s_per_100k = ((gc1 - gc0) / (acksPerS * seconds)) * 100_000;
    }
    if (broker) {
      figures.broker_cpu_s_per_100k = acksPerS > 0 ? (brokerUsed / (acksPerS * seconds)) * 100_000 : null;
      figures.broker_cpu_utilisation = brokerUsed / seconds;
      figures.broker_rss_mib = rssBytes(broker.pid) / 2 ** 20;
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

/**
 * One run of `scenario` against a fresh `target` server. A target with a broker (the cluster, a
 * sink) gets its own empty one, from `brokers` ({ redis, nats } binaries), started before and stopped
 * after it.
 */
export async function runOnce(scenario, target, brokers) {
  const broker = target.broker ? await startBroker(target.broker, brokers[target.broker]) : undefined;
  try {
    const server = await startServer(target, broker?.url);
    try {
      return await (scenario.idle ? runIdle(scenario, server) : runLoad(scenario, server, broker));
    } finally {
      await server.stop();
    }
  } finally {
    await broker?.stop();
  }
}
