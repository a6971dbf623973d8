// @ts-check
// A private `nats-server -js` on free ports of the loopback with its own temporary store, so nothing
// is shared with a developer's NATS or another suite; and a cluster of them (-cluster, -routes).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Daemon, HOST, findBinary, freePort, onFreePort } from './process.mjs';
import { sleep, waitFor } from './wait.mjs';

/** nats-server from NATS_SERVER_PATH, else the PATH; undefined when there is none. */
export const NATS_SERVER = findBinary('nats-server', 'NATS_SERVER_PATH').binary;

/**
 * @typedef {object} NatsServerOptions
 * @property {boolean} [jetstream] false: a server without JetStream.
 * @property {string} [token]
 * @property {string} [config] A configuration file (-c), for accounts, users and permissions.
 * @property {string} [name] The server's name (-n); a cluster's stream leader is named by it.
 * @property {string} [storeDir] The JetStream store; by default a new temporary directory.
 * @property {{ name: string, port: number, routes: string[] }} [cluster]
 * @property {string} [binary]
 */

export class NatsServer {
  /** @type {Daemon | undefined} */
  #daemon;

  /**
   * @param {number} port
   * @param {NatsServerOptions} options
   * @param {string} binary
   */
  constructor(port, options, binary) {
    this.port = port;
    this.options = options;
    this.binary = binary;
    this.storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'cbsa-nats-'));
  }

  /**
   * Starts a server on a free port.
   * @param {NatsServerOptions} [options]
   */
  static start(options = {}) {
    const binary = options.binary ?? NATS_SERVER;
    if (binary === undefined) throw new Error('nats-server not found (apt-get install -y nats-server)');
    return onFreePort(async (port) => {
      const server = new NatsServer(port, options, binary);
      try {
        await server.restart();
      } catch (err) {
        if (options.storeDir === undefined) rmSync(server.storeDir, { recursive: true, force: true });
        throw err;
      }
      return server;
    });
  }

  get url() {
    return `nats://${HOST}:${this.port}`;
  }

  get pid() {
    return this.#daemon?.pid;
  }

  get alive() {
    return this.#daemon?.alive ?? false;
  }

  /** Everything the server logged since it was last started. */
  get log() {
    return this.#daemon?.log ?? '';
  }

  /** (Re)starts the server on the same port and store directory: JetStream keeps its data. */
  async restart() {
    const { jetstream, token, config, name, cluster } = this.options;
    const args = ['-a', HOST, '-p', String(this.port)];
    if (jetstream !== false) {
      mkdirSync(this.storeDir, { recursive: true });
      args.push('-js', '-sd', this.storeDir);
    }
    if (name !== undefined) args.push('-n', name);
    if (token !== undefined) args.push('--auth', token);
    if (config !== undefined) args.push('-c', config);
    if (cluster !== undefined) {
      args.push('--cluster_name', cluster.name, '--cluster', `nats://${HOST}:${cluster.port}`);
      args.push('--routes', cluster.routes.join(','));
    }
    this.#daemon = await Daemon.start(`nats-server ${name ?? ''}`.trim(), this.binary, args, 'Server is ready', 15_000);
  }

  /** @param {NodeJS.Signals} signal */
  signal(signal) {
    this.#daemon?.signal(signal);
  }

  /**
   * SIGKILL by default (a crash); SIGTERM for an orderly stop, with `graceMs` before SIGKILL.
   * @param {NodeJS.Signals} [signal]
   * @param {number} [graceMs]
   */
  async stop(signal = 'SIGKILL', graceMs) {
    await this.#daemon?.kill(signal, graceMs);
  }

  /**
   * Stops the server (as stop() does) and removes its store.
   * @param {NodeJS.Signals} [signal]
   * @param {number} [graceMs]
   */
  async dispose(signal = 'SIGKILL', graceMs) {
    await this.stop(signal, graceMs);
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/** `size` JetStream servers routed to each other (one alone has no cluster), stores under one temp dir. */
export class NatsCluster {
  /**
   * @param {NatsServer[]} nodes
   * @param {string} root
   */
  constructor(nodes, root) {
    this.nodes = nodes;
    this.root = root;
  }

  /**
   * Starts the nodes (n1, n2, ...) and waits until JetStream answers.
   * @param {number} size
   * @param {string} [name] the cluster's name
   */
  static async start(size, name = 'cbsa') {
    const binary = NATS_SERVER;
    if (binary === undefined) throw new Error('nats-server not found (apt-get install -y nats-server)');
    const root = mkdtempSync(join(tmpdir(), 'cbsa-nats-cluster-'));
    const ports = [];
    for (let i = 0; i < size; i++) ports.push({ port: await freePort(), cluster: size > 1 ? await freePort() : 0 });
    const routes = ports.map((p) => `nats://${HOST}:${p.cluster}`);
    const nodes = ports.map(
      (p, i) =>
        new NatsServer(
          p.port,
          {
            name: `n${i + 1}`,
            storeDir: join(root, `n${i + 1}`),
            ...(size > 1 && { cluster: { name, port: p.cluster, routes } }),
          },
          binary,
        ),
    );
    const cluster = new NatsCluster(nodes, root);
    try {
      await Promise.all(nodes.map((node) => node.restart()));
      await cluster.jetStreamReady();
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  }

  /** Every node's URL, comma-separated (as NATS_URL takes them). */
  get urls() {
    return this.nodes.map((node) => node.url).join(',');
  }

  /** A cluster answers JetStream requests only once its meta group has elected a leader. */
  async jetStreamReady() {
    await waitFor(
      async () => {
        try {
          const nc = await connect({ servers: this.nodes.map((n) => n.url), timeout: 2000 });
          try {
            const jsm = await jetstreamManager(nc, { timeout: 2000 });
            await jsm.getAccountInfo();
            return true;
          } finally {
            await nc.close();
          }
        } catch {
          await sleep(200);
          return false;
        }
      },
      30_000,
      `JetStream on ${this.urls}`,
    );
  }

  /** SIGKILLs every node and removes the stores. */
  async dispose() {
    await Promise.all(this.nodes.map((node) => node.stop('SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
  }
}
