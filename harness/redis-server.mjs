// @ts-check
// A private redis-server on a free port of the loopback, so nothing is shared with a developer's
// Redis or another suite. Without a data directory it is empty and keeps nothing on disk; with one,
// AOF is on with appendfsync always, so a restart (even after SIGKILL) keeps every acked write.
import { Daemon, HOST, findBinary, onFreePort } from './process.mjs';

/** redis-server from REDIS_SERVER_PATH, else the PATH; undefined when there is none. */
export const REDIS_SERVER = findBinary('redis-server', 'REDIS_SERVER_PATH').binary;

export class RedisServer {
  /** @type {Daemon | undefined} */
  #daemon;

  /**
   * @param {number} port
   * @param {string | undefined} dataDir
   * @param {string} binary
   */
  constructor(port, dataDir, binary) {
    this.port = port;
    this.dataDir = dataDir;
    this.binary = binary;
  }

  /**
   * Starts a server: on `port`, else on a free one.
   * @param {{ port?: number, dataDir?: string, binary?: string }} [options]
   */
  static async start({ port, dataDir, binary = REDIS_SERVER } = {}) {
    if (binary === undefined) throw new Error('redis-server not found (apt-get install -y redis-server)');
    const start = async (/** @type {number} */ p) => {
      const server = new RedisServer(p, dataDir, binary);
      await server.restart();
      return server;
    };
    return port === undefined ? onFreePort(start) : start(port);
  }

  get url() {
    return `redis://${HOST}:${this.port}/0`;
  }

  get pid() {
    return this.#daemon?.pid;
  }

  /** SIGSTOP: the server stops answering, its sockets stay open (a stalled Redis). */
  pause() {
    this.#daemon?.signal('SIGSTOP');
  }

  resume() {
    this.#daemon?.signal('SIGCONT');
  }

  /** (Re)starts the server on the same port: empty, unless it has a data directory (its AOF). */
  async restart() {
    const persistence =
      this.dataDir === undefined
        ? ['--appendonly', 'no']
        : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dataDir];
    const args = ['--port', String(this.port), '--bind', HOST, '--save', '', ...persistence, '--daemonize', 'no'];
    this.#daemon = await Daemon.start('redis-server', this.binary, args, 'Ready to accept connections', 15_000);
  }

  /**
   * SIGKILL by default (a crash); SIGTERM for an orderly stop, with `graceMs` before SIGKILL.
   * @param {NodeJS.Signals} [signal]
   * @param {number} [graceMs]
   */
  async stop(signal = 'SIGKILL', graceMs) {
    await this.#daemon?.kill(signal, graceMs);
  }
}
