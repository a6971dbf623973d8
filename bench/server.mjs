// The server under test as a process: started fresh per run from the build snapshot (or the
// baseline), its CPU and memory read from /proc, and stopped.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { get as httpGet } from 'node:http';
import os from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatsServer } from '../harness/nats-server.mjs';
import { HOST } from '../harness/process.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { Service } from '../harness/service.mjs';
import { BATCH_MAX, BUILD, CPU_PROF_DIR, FLUSH_MS, ROOT, SERVICE_ENV, SETTINGS, SNAPSHOT } from './settings.mjs';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds the whole machine has spent busy (all cores), from the first line of /proc/stat. */
export function machineBusySeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

/** This process (orchestrator and load-generator threads), in seconds. */
export function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) * 1024;
}

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

/** Waits until `times` readiness checks in a row answer 200 (fresh connections, spread over the listening workers). */
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
 * Starts a fresh server process, with `target.env` (or `target.env(brokerUrl)`) in its environment.
 * With `target.workers` it is a node:cluster primary whose workers share the port and talk through
 * the broker (Redis); it is ready once every worker listens and answers /health/ready (Redis
 * connected, so ids can be leased). A target with a broker (a sink) is ready once /health/ready is.
 */
export async function startServer(target, brokerUrl) {
  const workers = target.workers ?? 1;
  // A clean environment and an empty working directory: no developer .env or LOG_LEVEL leaks in.
  const cwd = mkdtempSync(join(os.tmpdir(), 'cbsa-bench-'));
  const profile =
    CPU_PROF_DIR && target.main.startsWith(SNAPSHOT) ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF_DIR] : [];
  const service = new Service(
    {
      MONITOR_FLUSH_MS: String(FLUSH_MS),
      MONITOR_BATCH_MAX: String(BATCH_MAX),
      // The idle scenario opens exactly the default cap's worth of sockets; the cap is not under test.
      MAX_CONNECTIONS: String(Math.max(10_000, 2 * SETTINGS.idleConnections)),
      ...(workers > 1 && { WORKERS: String(workers), REDIS_URL: brokerUrl }),
      // A sink target's env names its broker: a function of the broker's URL.
      ...(typeof target.env === 'function' ? target.env(brokerUrl) : target.env),
      ...(target.main.startsWith(SNAPSHOT) && SERVICE_ENV),
    },
    // Only the tail of its log is kept: the run's figures come from /proc, not from the log.
    { cwd, main: target.main, nodeArgs: profile, defaults: { HOST, PORT: '0', LOG_LEVEL: 'INFO' }, keep: 8192 },
  );
  const { proc } = service;
  let partial = '';
  let listening = 0;
  const exited = service.exited.then((code) => code ?? proc.signalCode);
  const port = await new Promise((resolve, reject) => {
    // Generous, for a busy machine. A server that does not start is killed (a cluster primary takes
    // its workers down with it), so a failed bench leaves no process behind.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${target.label} did not start:\n${service.stdout}${service.stderr}`));
    }, 60_000);
    proc.stdout.on('data', (chunk) => {
      if (listening === workers) return;
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
    void exited.then((code) =>
      reject(new Error(`${target.label} exited (${code}) on start:\n${service.stdout}${service.stderr}`)),
    );
  });
  let dead = false;
  void exited.then(() => (dead = true));
  const children = workers > 1 ? childPids(proc.pid) : [];
  /** SIGTERM, then SIGKILL if it has not exited 20 s later; resolves with its exit code or signal. */
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
    }, 20_000);
    const status = await exited;
    clearTimeout(timer);
    rmSync(cwd, { recursive: true, force: true });
    return status;
  };
  try {
    if (workers > 1 && children.length !== workers) {
      throw new Error(`${target.label}: expected ${workers} workers, found pids [${children}]`);
    }
    if (workers > 1 || target.broker !== undefined) await untilReady(`http://127.0.0.1:${port}`, 2 * workers);
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
      if (dead) throw new Error(`${target.label} died during the run:\n${service.stderr}`);
      if (workers > 1 && childPids(proc.pid).join() !== children.join()) {
        throw new Error(
          `${target.label}: a worker died during the run (workers now [${childPids(proc.pid)}]):\n${service.stderr}`,
        );
      }
    },
    stop,
  };
}

/**
 * The private, empty broker a target needs (`redis` or `nats`, from its binary) on a free port:
 * nothing shared with a developer's broker. stop() is gentle (SIGTERM, SIGKILL 5 s later) and
 * removes what it stored.
 */
export async function startBroker(kind, binary) {
  if (kind === 'redis') {
    const redis = await RedisServer.start({ binary });
    return { pid: redis.pid, url: redis.url, stop: () => redis.stop('SIGTERM', 5000) };
  }
  const nats = await NatsServer.start({ binary });
  return { pid: nats.pid, url: nats.url, stop: () => nats.dispose('SIGTERM', 5000) };
}

/** Copies dist/ beside links to what it reads from the package root (package.json, public/, node_modules/). */
export function snapshotBuild() {
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
