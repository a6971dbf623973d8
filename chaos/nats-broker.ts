// The NATS JetStream engine: private `nats-server -js` processes (one, or a three-node cluster with
// -cluster and -routes and NATS_REPLICAS=3), each on free ports with its own temp store, and the
// stream read back whole with an ordered consumer: the log itself, not the service's word.
import { rmSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsCluster } from '../harness/nats-server.mjs';
import type { Broker, LogEntry } from './log.js';

const STREAM = 'CHAOS';
const SUBJECT = 'chaos.events';

export class NatsBroker implements Broker {
  readonly engine: string;
  private cluster?: NatsCluster;

  constructor(private readonly size: 1 | 3 = 1) {
    this.engine = size === 1 ? 'nats' : 'nats-cluster';
  }

  private get nodes() {
    if (this.cluster === undefined) throw new Error('the NATS broker is not started');
    return this.cluster.nodes;
  }

  serviceEnv(): Record<string, string> {
    return {
      SINK: 'nats',
      NATS_URL: this.nodes.map((node) => node.url).join(','),
      NATS_STREAM: STREAM,
      NATS_SUBJECT: SUBJECT,
      NATS_REPLICAS: String(this.size),
    };
  }

  async start(): Promise<void> {
    this.cluster = await NatsCluster.start(this.size, 'chaos');
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
    await node.stop(signal);
    const goneAt = Date.now();
    if (!keepData) rmSync(node.storeDir, { recursive: true, force: true });
    await node.restart();
    return { goneAt };
  }

  /** Cluster: SIGKILLs the node that leads the event stream now; resolves with its name. */
  async killLeader(): Promise<string> {
    const leader = await this.leader();
    const node = this.nodes.find((n) => n.options.name === leader);
    if (node === undefined)
      throw new Error(
        `stream leader "${leader}" is none of ${this.nodes.map((n) => n.options.name).join(', ')}`,
      );
    await node.stop('SIGKILL');
    return leader;
  }

  /** Cluster: resolves once the event stream has a leader other than `old` (an election is over). */
  async waitForNewLeader(old: string, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader().catch(() => undefined);
      if (leader !== undefined && leader !== old) return leader;
      if (Date.now() > deadline) throw new Error(`stream ${STREAM} elected no new leader in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Cluster: starts every killed node again, with its store (it catches up as a follower). */
  async restartDead(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => !n.alive).map((n) => n.restart()));
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
    await this.cluster?.dispose();
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
}
