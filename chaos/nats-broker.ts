// The NATS JetStream engine: private `nats-server -js` processes (one, or a three-node cluster with
// -cluster and -routes and NATS_REPLICAS=3), each on free ports with its own temp store, and the
// stream read back whole with an ordered consumer: the log itself, not the service's word.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Broker, LogEntry } from './log.js';
import { HOST, findBinary, freePort, sleep, until } from './ports.js';

export const findNatsServer = (): string | undefined => findBinary('nats-server', 'NATS_SERVER_PATH');

const STREAM = 'CHAOS';
const SUBJECT = 'chaos.events';

/** One nats-server process with its own port, cluster port and store directory. */
class Node {
  private proc?: ChildProcess;
  port = 0;
  clusterPort = 0;

  constructor(
    readonly name: string,
    readonly dir: string,
    private readonly binary: string,
  ) {}

  get url(): string {
    return `nats://${HOST}:${this.port}`;
  }

  get alive(): boolean {
    const proc = this.proc;
    return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  }

  async allocate(clustered: boolean): Promise<void> {
    this.port = await freePort();
    if (clustered) this.clusterPort = await freePort();
  }

  async spawn(routes: string[]): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const args = ['-a', HOST, '-p', String(this.port), '-js', '-sd', this.dir, '-n', this.name];
    if (routes.length > 0) {
      args.push(
        '--cluster_name',
        'chaos',
        '--cluster',
        `nats://${HOST}:${this.clusterPort}`,
        '--routes',
        routes.join(','),
      );
    }
    const proc = spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`nats-server ${this.name} did not start:\n${out}`)),
        15_000,
      );
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`nats-server ${this.name} exited (${code}):\n${out}`));
      };
      proc.stderr.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Server is ready')) {
          clearTimeout(timer);
          proc.off('exit', onExit);
          out = '';
          // Keep reading stderr (a full pipe would block the server), but keep nothing.
          proc.stderr.removeAllListeners('data');
          proc.stderr.resume();
          resolve();
        }
      });
      proc.once('exit', onExit);
    });
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || !this.alive) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGCONT');
    proc.kill(signal);
    await exited;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.proc!.kill(signal);
  }
}

export class NatsBroker implements Broker {
  readonly engine: string;
  protected readonly nodes: Node[];
  private readonly root = mkdtempSync(join(tmpdir(), 'cbsa-chaos-nats-'));

  constructor(
    private readonly size: 1 | 3 = 1,
    binary = findNatsServer(),
  ) {
    if (binary === undefined) throw new Error('nats-server not found (apt-get install -y nats-server)');
    this.engine = size === 1 ? 'nats' : 'nats-cluster';
    this.nodes = Array.from(
      { length: size },
      (_, i) => new Node(`n${i + 1}`, join(this.root, `n${i + 1}`), binary),
    );
  }

  private get urls(): string {
    return this.nodes.map((node) => node.url).join(',');
  }

  serviceEnv(): Record<string, string> {
    return {
      SINK: 'nats',
      NATS_URL: this.urls,
      NATS_STREAM: STREAM,
      NATS_SUBJECT: SUBJECT,
      NATS_REPLICAS: String(this.size),
    };
  }

  async start(): Promise<void> {
    for (const node of this.nodes) await node.allocate(this.size > 1);
    await Promise.all(this.nodes.map((node) => node.spawn(this.routes())));
    await this.jetStreamReady();
  }

  /** Restarts the (first) node; with `keepData: false` its store is deleted first. */
  async restart({
    keepData,
    signal,
  }: {
    keepData: boolean;
    signal: 'SIGKILL' | 'SIGTERM';
  }): Promise<{ goneAt: number }> {
    const node = this.nodes[0];
    await node.kill(signal);
    const goneAt = Date.now();
    if (!keepData) rmSync(node.dir, { recursive: true, force: true });
    await node.spawn(this.routes());
    return { goneAt };
  }

  /** Cluster: SIGKILLs the node that leads the event stream now; resolves with its name. */
  async killLeader(): Promise<string> {
    const leader = await this.leader();
    const node = this.nodes.find((n) => n.name === leader);
    if (node === undefined)
      throw new Error(`stream leader "${leader}" is none of ${this.nodes.map((n) => n.name).join(', ')}`);
    await node.kill('SIGKILL');
    return node.name;
  }

  /** Cluster: starts every killed node again, with its store (it catches up as a follower). */
  async restartDead(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => !n.alive).map((n) => n.spawn(this.routes())));
  }

  pause(): void {
    for (const node of this.nodes) node.signal('SIGSTOP');
  }

  resume(): void {
    for (const node of this.nodes) node.signal('SIGCONT');
  }

  /** Every message of the event stream in stream order, through an ordered consumer. */
  async readLog(): Promise<LogEntry[]> {
    const nc = await connect({ servers: this.nodes.filter((n) => n.alive).map((n) => n.url), timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const { state } = await jsm.streams.info(STREAM);
      const entries: LogEntry[] = [];
      if (state.messages === 0) return entries;
      const consumer = await jetstream(nc, { timeout: 10_000 }).consumers.get(STREAM);
      const messages = await consumer.consume({ max_messages: 2000 });
      const deadline = setTimeout(() => void messages.close(), 120_000);
      try {
        for await (const m of messages) {
          const h = m.headers;
          entries.push({
            position: String(m.seq),
            stream: h?.get('stream') ?? '',
            seq: Number(h?.get('seq') || 0),
            messageId: Number(h?.get('message_id')),
            data: m.string(),
          });
          if (m.seq >= state.last_seq) break;
        }
      } finally {
        clearTimeout(deadline);
        await messages.close();
      }
      if (entries.length !== state.messages)
        throw new Error(`read ${entries.length} of the stream's ${state.messages} messages`);
      return entries;
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill('SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
  }

  private routes(): string[] {
    return this.size === 1 ? [] : this.nodes.map((n) => `nats://${HOST}:${n.clusterPort}`);
  }

  /** The current leader of the event stream (its server name). */
  private async leader(): Promise<string> {
    const nc = await connect({ servers: this.nodes.filter((n) => n.alive).map((n) => n.url), timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      const info = await jsm.streams.info(STREAM);
      const leader = info.cluster?.leader;
      if (leader === undefined) throw new Error(`stream ${STREAM} has no leader`);
      return leader;
    } finally {
      await nc.close();
    }
  }

  /** A cluster answers JetStream requests only once its meta group has elected a leader. */
  private async jetStreamReady(): Promise<void> {
    await until(
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
      `JetStream on ${this.urls}`,
      30_000,
    );
  }
}
