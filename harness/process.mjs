// @ts-check
// What every private process of the harness shares: the loopback address, free ports, finding a
// broker binary, and a child process started until it logs that it is ready.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** Every process the harness starts listens here only. */
export const HOST = '127.0.0.1';

/** A TCP port free on the loopback now (another process may take it before it is bound). */
export function freePort() {
  return /** @type {Promise<number>} */ (
    new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, HOST, () => {
        const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
        server.close(() => resolve(port));
      });
    })
  );
}

/**
 * Calls `start(port)` on a free port; a port taken between the probe and the bind is retried.
 * @template T
 * @param {(port: number) => Promise<T>} start
 * @returns {Promise<T>}
 */
export async function onFreePort(start) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/**
 * A binary from `envVar` when set, else `name` on the PATH; or why there is none.
 * @param {string} name
 * @param {string} envVar
 * @returns {{ binary: string, missing?: undefined } | { binary?: undefined, missing: string }}
 */
export function findBinary(name, envVar) {
  const configured = process.env[envVar];
  if (configured) {
    return existsSync(configured)
      ? { binary: configured }
      : { missing: `${envVar}=${configured} does not exist` };
  }
  try {
    const binary = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    if (binary) return { binary };
  } catch {
    // not on the PATH
  }
  return {
    missing: `${name} not found: install it with \`apt-get install -y ${name}\` (or set ${envVar})`,
  };
}

/** How much of a daemon's log is kept in memory (the tail, for failure reports). */
const LOG_TAIL = 1 << 20;

/** A broker process (redis-server, nats-server): started until it logs a line, stopped by a signal. */
export class Daemon {
  /** Everything the process wrote (stdout and stderr) since it started, up to the last MiB. */
  log = '';

  /**
   * @param {string} name
   * @param {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>} proc
   */
  constructor(name, proc) {
    this.name = name;
    this.proc = proc;
    /** @type {Promise<number | string | null>} the exit code, or the signal that ended it */
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
    // Always read its output, so a full pipe never stalls it.
    const keep = (/** @type {Buffer} */ d) => {
      this.log += d.toString();
      if (this.log.length > 2 * LOG_TAIL) this.log = this.log.slice(-LOG_TAIL);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
  }

  /**
   * Spawns `binary args` and resolves once its output contains `readyLine`; rejects (the process
   * killed) when it exits first or takes longer than `timeoutMs`.
   * @param {string} name
   * @param {string} binary
   * @param {string[]} args
   * @param {string} readyLine
   * @param {number} timeoutMs
   */
  static async start(name, binary, args, readyLine, timeoutMs) {
    const daemon = new Daemon(name, spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const { proc } = daemon;
    /** @type {() => void} */
    let onData = () => undefined;
    try {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${daemon.log}`)), timeoutMs);
        onData = () => {
          if (daemon.log.includes(readyLine)) {
            clearTimeout(timer);
            resolve(undefined);
          }
        };
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        proc.once('error', reject);
        void daemon.exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code}) on start:\n${daemon.log}`));
        });
      });
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    } finally {
      proc.stdout.off('data', onData);
      proc.stderr.off('data', onData);
    }
    return daemon;
  }

  get pid() {
    return this.proc.pid;
  }

  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** @param {NodeJS.Signals} signal */
  signal(signal) {
    if (this.alive) this.proc.kill(signal);
  }

  /**
   * Sends `signal` (after SIGCONT: a paused process cannot act on SIGTERM) and waits for the exit;
   * with `graceMs`, SIGKILL if it has not exited by then.
   * @param {NodeJS.Signals} [signal]
   * @param {number} [graceMs]
   */
  async kill(signal = 'SIGKILL', graceMs) {
    if (!this.alive) return;
    this.proc.kill('SIGCONT');
    this.proc.kill(signal);
    const timer = graceMs === undefined ? undefined : setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
