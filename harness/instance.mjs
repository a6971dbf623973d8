// @ts-check
// One service instance: a Service that can be killed and started again on the same port (so clients
// find it again), with its URLs, probes and, with WORKERS > 1, its worker processes.
import { createWriteStream } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { HOST, freePort } from './process.mjs';
import { SERVICE_DEFAULTS, Service } from './service.mjs';
import { waitFor } from './wait.mjs';

/**
 * @typedef {object} InstanceOptions
 * @property {string} [name] names the instance in errors and its log
 * @property {number} [port] by default env.PORT, else the system's choice (or, with `until: 'ready'`, a free port)
 * @property {'listening' | 'ready'} [until] started once it logs that it listens (INFO), or once
 *   /health/ready answers 200 (any log level)
 * @property {number} [timeout] how long a start may take, in ms
 * @property {string} [logFile] every start's output appended to this file
 * @property {Record<string, string>} [defaults] the environment under `env` (SERVICE_DEFAULTS)
 */

/**
 * @typedef {object} Probe
 * @property {number} status
 * @property {Record<string, unknown>} body
 */

export class Instance {
  /** The last lines the process wrote (stdout and stderr), for failure reports. */
  recentOutput = '';
  /** @type {Service | undefined} */
  #service;
  /** @type {import('node:fs').WriteStream | undefined} */
  #log;
  #starts = 0;

  /**
   * @param {Record<string, string>} env
   * @param {InstanceOptions} options
   */
  constructor(env, options) {
    this.env = env;
    this.options = options;
    this.name = options.name ?? 'service';
    this.port = options.port ?? Number(env.PORT ?? 0);
  }

  /** The process of the latest start. */
  get service() {
    if (this.#service === undefined) throw new Error(`${this.name} was never started`);
    return this.#service;
  }

  /**
   * Starts an instance and waits until it is up (see InstanceOptions.until).
   * @param {Record<string, string>} env
   * @param {InstanceOptions} [options]
   */
  static async start(env, options = {}) {
    const instance = new Instance(env, options);
    if (instance.port === 0 && options.until === 'ready') instance.port = await freePort();
    await instance.restart();
    return instance;
  }

  /** ws://host:port, without a path. */
  get url() {
    return `ws://${HOST}:${this.port}`;
  }

  ws(path = '/ws/behaviour') {
    return `${this.url}${path}`;
  }

  /** @param {string} path */
  http(path) {
    return `http://${HOST}:${this.port}${path}`;
  }

  get pid() {
    return this.service.pid;
  }

  /** Starts the process (again, after a kill) on the same port, and waits until it is up. */
  async restart() {
    const { until = 'listening', timeout = until === 'ready' ? 90_000 : 60_000, logFile, defaults } = this.options;
    if (logFile !== undefined) this.#log ??= createWriteStream(logFile, { flags: 'a' });
    this.#starts++;
    const log = this.#log;
    const service = new Service(
      { ...this.env, PORT: String(this.port) },
      {
        defaults: defaults ?? SERVICE_DEFAULTS,
        onOutput: (d) => {
          log?.write(d);
          this.recentOutput = (this.recentOutput + d.toString()).slice(-8000);
        },
      },
    );
    this.#service = service;
    log?.write(`--- start ${this.#starts} pid ${service.pid} at ${new Date().toISOString()}\n`);
    if (until === 'ready') await this.waitReady(timeout);
    else this.port = await service.port(timeout);
  }

  /**
   * Waits until /health/ready answers 200. Generous by default: on a shared 2-core machine a cold
   * start of two workers can take half a minute.
   * @param {number} [timeout]
   */
  async waitReady(timeout = 90_000) {
    const service = this.service;
    await waitFor(
      async () => {
        if (!service.alive) throw new Error(`${this.name} exited (${service.proc.exitCode}):\n${this.recentOutput}`);
        return (await this.readyStatus()) === 200;
      },
      timeout,
      `${this.name} ready`,
    );
  }

  /** The status of /health/ready, or 0 when it does not answer within 2 s. */
  async readyStatus() {
    try {
      const res = await fetch(this.http('/health/ready'), { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** GET /health/ready. */
  ready() {
    return this.#json('/health/ready');
  }

  /** GET /health. */
  health() {
    return this.#json('/health');
  }

  /** GET /metrics, as text. */
  async metrics() {
    return (await fetch(this.http('/metrics'))).text();
  }

  /**
   * @param {string} path
   * @returns {Promise<Probe>}
   */
  async #json(path) {
    const res = await fetch(this.http(path));
    return { status: res.status, body: /** @type {Record<string, unknown>} */ (await res.json()) };
  }

  /**
   * Sends `signal` and waits for the exit (SIGKILL by default: a crash); rejects when it has not
   * exited within `timeout` ms.
   * @param {NodeJS.Signals} [signal]
   * @param {number} [timeout]
   */
  kill(signal = 'SIGKILL', timeout) {
    return this.service.kill(signal, timeout);
  }

  /**
   * SIGTERM (SIGKILL if it has not exited 20 s later), and closes the log file.
   * @param {'SIGTERM' | 'SIGKILL'} [signal]
   */
  async stop(signal = 'SIGTERM') {
    try {
      await this.kill(signal, 20_000);
    } catch {
      await this.kill('SIGKILL');
    }
    const log = this.#log;
    await new Promise((resolve) => (log ? log.end(resolve) : resolve(undefined)));
    this.#log = undefined;
  }

  /** With WORKERS > 1: the pids of the worker processes (children of this process), from /proc. */
  async workerPids() {
    const children = await readFile(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8');
    return children.split(/\s+/).filter(Boolean).map(Number);
  }

  /**
   * With WORKERS > 1: the worker that holds the most client connections on this port, from /proc
   * (the established sockets of the port, matched by inode to each worker's open files). A worker
   * chosen blindly may hold none when the clients connected before the second worker listened.
   */
  async busiestWorker() {
    const established = new Set();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const text = await readFile(table, 'utf8').catch(() => '');
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10) continue;
        const localPort = parseInt(cols[1].split(':').pop() ?? '', 16);
        if (localPort === this.port && cols[3] === '01') established.add(cols[9]);
      }
    }
    let best = { pid: 0, count: -1 };
    for (const pid of await this.workerPids()) {
      let count = 0;
      for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => /** @type {string[]} */ ([]))) {
        const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode !== undefined && established.has(inode)) count++;
      }
      if (count > best.count) best = { pid, count };
    }
    if (best.pid === 0) throw new Error(`${this.name} has no workers`);
    return best.pid;
  }
}
