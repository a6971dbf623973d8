// Pipelined JetStream publishes for SINK=nats, on the client's public API: every publish is an
// nc.publish() with the reply subject `<inbox>.<n>`, and one subscription on `<inbox>.*` receives
// every PubAck. `js.publish` makes a request per message instead (a promise, a timer, a random token
// and up to three Error objects for stack traces), which costs more CPU than the whole rest of the
// ingest path, so do not "simplify" this back to js.publish. Here a publish costs one map entry,
// its PubAck is recognised without JSON.parse when it has the usual shape, and a sweep every
// 250 ms fails those without a PubAck after the timeout.
//
// With `reuseReplies` a token <n> is taken again once its PubAck has come (never after a timeout or
// a disconnect, whose late reply could settle the wrong publish), so the broker sees a few hundred
// reply subjects, not a new one per publish: nats-server caches subject matches per subject, and a
// new one each time cost it about a tenth of its CPU under the bench's load. Only for streams of
// one replica: a replicated stream replies from whichever server leads when it applies the message,
// so around a leader change one publish can be answered twice, and the second answer must find no
// other publish on its subject.
import { type Msg, type MsgHdrs, type NatsConnection, headers, nuid } from '@nats-io/transport-node';
import { performance } from 'node:perf_hooks';
import { INSTANCE_ID } from '../../cluster/instance-id.js';
import type { SinkEntry } from '../durable-sink.js';

/**
 * A message's NATS headers: message_id, client_id, server_timestamp, category, sub and kid
 * (provenance: JWT mode, empty under static tokens), policy and errors when they apply, stream and
 * seq on resumable connections, and Nats-Msg-Id, which JetStream deduplicates on within its
 * duplicate window.
 */
export function natsHeaders(entry: SinkEntry, policyVersion?: string): MsgHdrs {
  const h = headers();
  h.append('message_id', String(entry.messageId));
  h.append('client_id', entry.clientId);
  h.append('server_timestamp', entry.timestamp);
  h.append('category', entry.category);
  h.append('sub', entry.sub ?? '');
  h.append('kid', entry.kid ?? '');
  if (policyVersion !== undefined) h.append('policy', policyVersion);
  if (entry.quarantine !== undefined) h.append('errors', entry.quarantine);
  if (entry.stream !== '') {
    h.append('stream', entry.stream);
    h.append('seq', String(entry.seq));
  }
  h.append(
    'Nats-Msg-Id',
    entry.stream !== '' ? `${entry.stream}:${entry.seq}` : `${INSTANCE_ID}:${entry.messageId}`,
  );
  return h;
}

export type PublishOutcome = 'stored' | 'duplicate' | 'failed';

/**
 * Told once per publish, by the index it was given, of the PubAck's verdict, when the publish was
 * made (`at`), and why it failed (no PubAck in time, no stream, ...). An object rather than a
 * callback per publish: one listener serves a whole batch, so a publish allocates no closure.
 */
export interface PublishListener {
  settled(index: number, outcome: PublishOutcome, at: number, error?: Error, seq?: number): void;
  /** true: the PubAck's stream sequence is wanted (the PubAck is parsed in full: KV compare-and-set). */
  readonly wantsSeq?: boolean;
}

interface Waiter {
  listener: PublishListener;
  index: number;
  at: number;
}

/** The parts of a PubAck (or JetStream API error) this sink reads. */
interface PubAck {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; description?: string };
}

const SWEEP_MS = 250;

const STREAM_PREFIX = Buffer.from('{"stream":"');
const [QUOTE, CLOSE, D, U, E, R] = [0x22, 0x7d, 0x64, 0x75, 0x65, 0x72]; // " } d u e r

/**
 * 'stored' for a PubAck of the usual shape `{"stream":"<name>","seq":N…}` with neither a "duplicate"
 * nor an "error" key in it, read from its bytes; undefined for anything else (a duplicate, an
 * error, another shape), which is then parsed as JSON. Stream names and domains hold no quote, so
 * `"du` and `"er` can only open those keys.
 */
export function plainPubAck(data: Uint8Array): 'stored' | undefined {
  const n = data.length;
  if (n < STREAM_PREFIX.length + 2 || data[n - 1] !== CLOSE) return undefined;
  for (let i = 0; i < STREAM_PREFIX.length; i++) if (data[i] !== STREAM_PREFIX[i]) return undefined;
  if (data[STREAM_PREFIX.length] === QUOTE) return undefined; // an empty stream name
  for (let i = STREAM_PREFIX.length; i < n - 2; i++) {
    if (data[i] !== QUOTE) continue;
    const a = data[i + 1];
    const b = data[i + 2];
    if ((a === D && b === U) || (a === E && b === R)) return undefined;
  }
  return 'stored';
}

function settle(waiter: Waiter, outcome: PublishOutcome, error?: Error, seq?: number): void {
  waiter.listener.settled(waiter.index, outcome, waiter.at, error, seq);
}

export class PubAckPublisher {
  private readonly prefix: string;
  /** The highest reply token handed out. */
  private next = 0;
  /** Tokens whose PubAck came: free to be taken again (the last freed first). */
  private readonly free: number[] = [];
  /** In publish order (Map keeps insertion order), so the sweep stops at the first one not yet due. */
  private readonly pending = new Map<number, Waiter>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly reuseReplies: boolean;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    {
      reuseReplies = false,
    }: {
      /** Take a reply token again once its one PubAck came: only where each publish gets one reply (R1). */
      reuseReplies?: boolean;
    } = {},
  ) {
    this.reuseReplies = reuseReplies;
    // A shorter inbox than createInbox()'s 22 random characters: it is in every message both ways.
    this.prefix = `_INBOX.${nuid.next().slice(-10)}.`;
    nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.sweeper = setInterval(() => this.expire(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Publishes `data` to `subject` with `headers`, or none; `listener` is told once, with `index`, of
   * the PubAck's verdict (synchronously when the client refuses the publish: a closed connection,
   * over max_payload). `at` is performance.now() of the caller, for the timeout.
   */
  publish(
    subject: string,
    headers: MsgHdrs | undefined,
    data: string,
    at: number,
    listener: PublishListener,
    index: number,
  ): void {
    const n = this.free.pop() ?? ++this.next;
    this.pending.set(n, { listener, index, at });
    try {
      this.nc.publish(subject, data, { reply: this.prefix + n, headers });
    } catch (err) {
      this.pending.delete(n);
      listener.settled(index, 'failed', at, err as Error);
    }
  }

  /**
   * A KV compare-and-set through the pipeline: publishes `data` on `subject` (`$KV.<bucket>.<key>`)
   * only if the subject's last message is `expectedRevision` (0: none), as the KV client's update
   * and create do. Resolves with the new revision; rejects when the key moved or the write failed.
   */
  compareAndSet(subject: string, data: string, expectedRevision: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const listener: PublishListener = {
        wantsSeq: true,
        settled: (_, outcome, __, error, seq) =>
          outcome === 'failed' || seq === undefined ? reject(error ?? new Error('no PubAck')) : resolve(seq),
      };
      const expected = headers();
      expected.set('Nats-Expected-Last-Subject-Sequence', String(expectedRevision));
      this.publish(subject, expected, data, performance.now(), listener, 0);
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
    for (const waiter of waiting) settle(waiter, 'failed', error);
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err !== null) return this.failPending(err);
    const n = this.replyNumber(msg);
    const waiter = this.pending.get(n);
    if (waiter === undefined) return; // timed out or cut off: its token is not taken again
    this.pending.delete(n);
    // Its one reply has come, so nothing more arrives on this subject: the next publish may take it.
    if (this.reuseReplies) this.free.push(n);
    const data = msg.data;
    // A status reply with no data: 503 means no stream listens on the subject.
    if (data.length === 0) {
      const code = msg.headers?.code ?? 0;
      return settle(waiter, 'failed', new Error(`no PubAck (status ${code})`));
    }
    if (waiter.listener.wantsSeq !== true && plainPubAck(data) === 'stored') return settle(waiter, 'stored');
    let ack: PubAck;
    try {
      ack = msg.json<PubAck>();
    } catch (e) {
      return settle(waiter, 'failed', e as Error);
    }
    if (ack.error !== undefined || !ack.stream) {
      const why = ack.error?.description ?? 'invalid PubAck';
      return settle(waiter, 'failed', new Error(why));
    }
    settle(waiter, ack.duplicate === true ? 'duplicate' : 'stored', undefined, ack.seq);
  }

  /** The <n> of the reply subject `<prefix><n>`. */
  private replyNumber(msg: Msg): number {
    return Number(msg.subject.slice(this.prefix.length));
  }

  private expire(): void {
    const due = performance.now() - this.timeoutMs;
    for (const [n, waiter] of this.pending) {
      if (waiter.at > due) break;
      this.pending.delete(n);
      settle(waiter, 'failed', new Error(`no PubAck within ${this.timeoutMs} ms`));
    }
  }
}
