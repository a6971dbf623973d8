// Pipelined JetStream publishes for SINK=nats: every publish carries the reply subject
// `<inbox>.<n>`, and one subscription on `<inbox>.*` receives every PubAck. `js.publish` makes a
// request per message instead (a promise, a timer, a random token and up to three Error objects
// for stack traces): the bench measured that at more CPU than the whole rest of the ingest path, so
// do not "simplify" this back to js.publish. Here a publish costs one map entry; a sweep every
// 250 ms fails those without a PubAck after the timeout.
import { type Msg, type MsgHdrs, type NatsConnection, createInbox } from '@nats-io/transport-node';
import { performance } from 'node:perf_hooks';

export type PublishOutcome = 'stored' | 'duplicate' | 'failed';

export interface PublishResult {
  outcome: PublishOutcome;
  /** Why it failed (no PubAck in time, no stream, a JetStream error, the connection closed). */
  error?: Error;
}

interface Waiter {
  resolve: (result: PublishResult) => void;
  at: number;
}

/** The parts of a PubAck (or JetStream API error) this sink reads. */
interface PubAck {
  stream?: string;
  duplicate?: boolean;
  error?: { code?: number; description?: string };
}

const SWEEP_MS = 250;

export class PubAckPublisher {
  private readonly prefix: string;
  private next = 0;
  /** In publish order (Map keeps insertion order), so the sweep stops at the first one not yet due. */
  private readonly pending = new Map<number, Waiter>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.prefix = `${createInbox()}.`;
    nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.sweeper = setInterval(() => this.expire(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Publishes `data` to `subject`; resolves with the PubAck's verdict, never rejects. */
  publish(subject: string, data: string, headers?: MsgHdrs): Promise<PublishResult> {
    const n = ++this.next;
    return new Promise((resolve) => {
      this.pending.set(n, { resolve, at: performance.now() });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + n, headers });
      } catch (err) {
        this.pending.delete(n);
        resolve({ outcome: 'failed', error: err as Error });
      }
    });
  }

  /** Stops the sweep and fails every publish still waiting (the connection's drain ends the subscription). */
  close(): void {
    clearInterval(this.sweeper);
    this.failPending(new Error('NATS connection closed'));
  }

  /**
   * Fails every publish still waiting, at once: after a disconnect their PubAcks never come (the
   * server sent them while the connection was gone), and left to the timeout they would fail seconds
   * after the service is ready again (a refusal while healthy).
   */
  failPending(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiting) waiter.resolve({ outcome: 'failed', error });
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err !== null) return this.failPending(err);
    const n = Number(msg.subject.slice(this.prefix.length));
    const waiter = this.pending.get(n);
    if (waiter === undefined) return; // already timed out
    this.pending.delete(n);
    // A status reply with no data: 503 means no stream listens on the subject.
    if (msg.data.length === 0) {
      const code = msg.headers?.code ?? 0;
      return waiter.resolve({ outcome: 'failed', error: new Error(`no PubAck (status ${code})`) });
    }
    let ack: PubAck;
    try {
      ack = msg.json<PubAck>();
    } catch (e) {
      return waiter.resolve({ outcome: 'failed', error: e as Error });
    }
    if (ack.error !== undefined || !ack.stream) {
      const why = ack.error?.description ?? 'invalid PubAck';
      return waiter.resolve({ outcome: 'failed', error: new Error(why) });
    }
    waiter.resolve({ outcome: ack.duplicate === true ? 'duplicate' : 'stored' });
  }

  private expire(): void {
    const due = performance.now() - this.timeoutMs;
    for (const [n, waiter] of this.pending) {
      if (waiter.at > due) break;
      this.pending.delete(n);
      waiter.resolve({ outcome: 'failed', error: new Error(`no PubAck within ${this.timeoutMs} ms`) });
    }
  }
}
