// @ts-check
// The production build (dist/main.js) as a child process: its environment, its output at hand (the
// JSON log lines), its exit, its memory.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HOST } from './process.mjs';
import { sleep } from './wait.mjs';

/** The package root, found from this file whether it runs from source or compiled into dist/chaos. */
function packageRoot() {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'tsconfig.chaos.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package root above ${import.meta.dirname}`);
    dir = parent;
  }
  return dir;
}

export const ROOT = packageRoot();
export const MAIN = join(ROOT, 'dist', 'main.js');

/**
 * What a service gets unless its env says otherwise: the loopback, a port of the system's choice,
 * and no monitor replay, so a monitor's first events frame is live traffic rather than earlier
 * tests' events.
 */
export const SERVICE_DEFAULTS = Object.freeze({ HOST, PORT: '0', MONITOR_REPLAY: '0' });

/**
 * @typedef {object} LogLine
 * @property {number} level
 * @property {string} msg
 */

/**
 * @typedef {object} ServiceOptions
 * @property {string} [cwd] the working directory (a developer's .env there is read)
 * @property {string[]} [launcher] runs the service through another command, e.g. `['prlimit', '--nofile=300']`
 * @property {string} [main] the entry point (dist/main.js)
 * @property {string[]} [nodeArgs] options for node itself, such as --cpu-prof
 * @property {Record<string, string>} [defaults] the environment under `env` (SERVICE_DEFAULTS); PATH is always passed
 * @property {number} [keep] keep only the last `keep` characters of stdout and stderr (a long run)
 * @property {(chunk: Buffer) => void} [onOutput] sees stdout and stderr as they come
 */

/** Every Service still running; killed after the file (under Jest), whatever its tests did. */
const running = new Set();

/** SIGKILLs every Service still running and waits for them. */
export async function killAll() {
  await Promise.all(
    [...running].map((/** @type {Service} */ service) => {
      service.proc.kill('SIGKILL');
      return service.exited;
    }),
  );
}

// A test that failed before stop() must not leave the process (and its pipes) holding Jest open.
/** @type {{ afterAll?: (fn: () => Promise<void>) => void }} */ (globalThis).afterAll?.(killAll);

export class Service {
  stdout = '';
  stderr = '';

  /**
   * @param {Record<string, string>} env on top of `options.defaults`
   * @param {ServiceOptions} [options]
   */
  constructor(env, options = {}) {
    const { cwd = ROOT, launcher = [], main = MAIN, nodeArgs = [], defaults = SERVICE_DEFAULTS, keep, onOutput } = options;
    const [command, ...args] = [...launcher, process.execPath, ...nodeArgs, main];
    this.proc = spawn(command, args, {
      cwd,
      env: { PATH: process.env.PATH, ...defaults, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const trim = (/** @type {string} */ text) => (keep !== undefined && text.length > 2 * keep ? text.slice(-keep) : text);
    this.proc.stdout.on('data', (/** @type {Buffer} */ d) => {
      this.stdout = trim(this.stdout + d.toString());
      onOutput?.(d);
    });
    this.proc.stderr.on('data', (/** @type {Buffer} */ d) => {
      this.stderr = trim(this.stderr + d.toString());
      onOutput?.(d);
    });
    /** @type {Promise<number | null>} the exit code (null after a signal) */
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get pid() {
    return this.proc.pid;
  }

  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** stdout as JSON log lines. */
  lines() {
    return this.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => /** @type {LogLine & Record<string, unknown>} */ (JSON.parse(l)));
  }

  /**
   * @param {(line: LogLine & Record<string, unknown>) => boolean} predicate
   * @param {number} [timeout]
   */
  async waitForLine(predicate, timeout = 15_000) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const line = this.lines().find(predicate);
      if (line) return line;
      await sleep(50);
    }
    throw new Error(`no such log line; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
  }

  /**
   * The port from the "listening on" line (logged at INFO). Generous: on a busy machine (CI,
   * shared cores) a Nest boot can take many seconds.
   * @param {number} [timeout]
   */
  async port(timeout = 60_000) {
    const line = await this.waitForLine((l) => / listening on /.test(l.msg), timeout);
    return Number(/:(\d+) /.exec(line.msg)?.[1]);
  }

  /** Resident memory of the process in MiB, from /proc. */
  rssMb() {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  }

  /**
   * Sends `signal` and waits for the exit; rejects when it has not exited within `timeout` ms.
   * @param {NodeJS.Signals} signal
   * @param {number} [timeout]
   */
  async kill(signal, timeout) {
    if (!this.alive) return;
    this.proc.kill(signal);
    if (timeout === undefined) {
      await this.exited;
      return;
    }
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`pid ${this.pid} did not exit on ${signal}`)), timeout);
    });
    try {
      await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (a graceful shutdown), and waits for the exit. */
  async stop() {
    this.proc.kill('SIGTERM');
    await this.exited;
  }
}
