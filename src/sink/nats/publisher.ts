// Pipelined JetStream publishes for SINK=nats: every publish carries the reply subject
// `<inbox>.<n>`, and one subscription on `<inbox>.*` receives every PubAck. `js.publish` makes a
// request per message instead (a promise, a timer, a random token and up to three Error objects
// for stack traces), which costs more CPU than the whole rest of the ingest path, so do not
// "simplify" this back to js.publish. Here a publish costs one map entry; its whole protocol
// frame (`HPUB <subject> <reply> <sizes>`, header block, data) is written into a shared slab (see
// WireBytes.frame) and handed to the client's protocol handler (client-internals.ts: measured
// worth it against nc.publish()), and its PubAck is recognised
// without JSON.parse when it has the usual shape; a sweep every 250 ms fails those without a PubAck
// after the timeout.
//
// With `reuseReplies` a token <n> is taken again once its PubAck has come (never after a timeout or
// a disconnect, whose late reply could settle the wrong publish), so the broker sees a few hundred
// reply subjects, not a new one per publish: nats-server caches subject matches per subject, and a
// new one each time cost it about a tenth of its CPU under the bench's load. Only for streams of
// one replica: a replicated stream replies from whichever server leads when it applies the message,
// so around a leader change one publish can be answered twice, and the second answer must find no
// other publish on its subject.
import { type Msg, type NatsConnection, nuid } from '@nats-io/transport-node';
import { performance } from 'node:perf_hooks';
import { INSTANCE_ID } from '../../cluster/instance-id.js';
import type { SinkEntry } from '../stream-log.js';
import { EncodedHeaders, type FrameWriter, frameWriterOf, subjectBytes } from './client-internals.js';

/**
 * A message's NATS header block (the wire form of a header set): message_id, client_id,
 * server_timestamp, category, stream and seq on resumable connections, and Nats-Msg-Id, which
 * JetStream deduplicates on within its duplicate window. Built as one string rather than through the
 * client's header set, whose per-key checks cost about a tenth of the service's CPU under load.
 * No value can hold CR or LF (ids are numbers, client ids base64url, categories flow-map node ids,
 * stream ids STREAM_ID, the instance id host-pid-hex), so nothing needs escaping or checking here.
 */
export function natsHeaderBlock(entry: SinkEntry, policyVersion?: string): string {
  // sub and kid: provenance (JWT mode; empty under static tokens). A kid is printable ASCII
  // without spaces (token-verifier.ts), a sub of the stream-id alphabet.
  const head =
    `NATS/1.0\r\nmessage_id: ${entry.messageId}\r\nclient_id: ${entry.clientId}` +
    `\r\nserver_timestamp: ${entry.timestamp}\r\ncategory: ${entry.category}` +
    `\r\nsub: ${entry.sub ?? ''}\r\nkid: ${entry.kid ?? ''}` +
    (policyVersion === undefined ? '' : `\r\npolicy: ${policyVersion}`) +
    (entry.quarantine === undefined ? '' : `\r\nerrors: ${entry.quarantine}`);
  return entry.stream !== ''
    ? `${head}\r\nstream: ${entry.stream}\r\nseq: ${entry.seq}\r\nNats-Msg-Id: ${entry.stream}:${entry.seq}\r\n\r\n`
    : `${head}\r\nNats-Msg-Id: ${INSTANCE_ID}:${entry.messageId}\r\n\r\n`;
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
const SLAB_BYTES = 256 * 1024;

/**
 * Bytes of outgoing messages, cut from 256 KiB slabs. TextEncoder.encode (what the client does with
 * a string payload, and with a header set) allocates a fresh ArrayBuffer per call, which cost more
 * than copying; here a publish's header block and data are one copy each into a slab. A region is
 * never written twice (a full slab is dropped, not reused), so the client may hold views of it for
 * as long as it likes (it copies them into its write buffer before the next tick, and keeps them in
 * its reconnect buffer while disconnected).
 */
export class WireBytes {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;
  /** The message size (header block and data, in bytes) of the last frame(). */
  size = 0;

  /** `text` as UTF-8. */
  utf8(text: string): Uint8Array<ArrayBuffer> {
    this.reserve(text.length * 3);
    const start = this.used;
    this.used += this.slab.write(text, start);
    return new Uint8Array(this.slab.buffer, this.slab.byteOffset + start, this.used - start);
  }

  /**
   * A message as the NATS protocol frames it, what nc.publish() writes for it byte for byte:
   * `HPUB <subject> <reply> <header bytes> <total bytes>`, the header block and the data, or
   * `PUB <subject> <reply> <bytes>` and the data without headers; sizes in UTF-8 bytes (`size`
   * holds the total). The header block and data are written straight into the slab (no joined
   * string, no byte count beforehand), and the line, once their sizes are known, just before them.
   */
  frame(
    subject: string,
    reply: string,
    headerBlock: string | undefined,
    data: string,
  ): Uint8Array<ArrayBuffer> {
    const lead = (subject.length + reply.length) * 3 + 32;
    this.reserve(lead + ((headerBlock?.length ?? 0) + data.length) * 3 + 2);
    const slab = this.slab;
    const body = this.used + lead;
    const headerBytes = headerBlock === undefined ? 0 : slab.write(headerBlock, body);
    const size = headerBytes + slab.write(data, body + headerBytes);
    const end = body + size;
    slab[end] = 0x0d; // \r
    slab[end + 1] = 0x0a; // \n
    const line =
      headerBlock === undefined
        ? `PUB ${subject} ${reply} ${size}\r\n`
        : `HPUB ${subject} ${reply} ${headerBytes} ${size}\r\n`;
    const from = body - slab.write(line, body - Buffer.byteLength(line));
    this.used = end + 2;
    this.size = size;
    return new Uint8Array(slab.buffer, slab.byteOffset + from, end + 2 - from);
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.slab.length) return;
    this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
    this.used = 0;
  }
}

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
  private readonly prefixBytes: number;
  private readonly writer: FrameWriter | undefined;
  /** The highest reply token handed out. */
  private next = 0;
  /** Tokens whose PubAck came: free to be taken again (the last freed first). */
  private readonly free: number[] = [];
  /** In publish order (Map keeps insertion order), so the sweep stops at the first one not yet due. */
  private readonly pending = new Map<number, Waiter>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly bytes = new WireBytes();
  private readonly headers = new EncodedHeaders();
  /** One options object for every publish: the client reads it synchronously and keeps nothing. */
  private readonly options: { reply: string; headers?: EncodedHeaders } = { reply: '' };

  private readonly reuseReplies: boolean;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    {
      frames = true,
      reuseReplies = false,
    }: {
      /** false: always through nc.publish() (the fallback, also under test). */
      frames?: boolean;
      /** Take a reply token again once its one PubAck came: only where each publish gets one reply (R1). */
      reuseReplies?: boolean;
    } = {},
  ) {
    this.reuseReplies = reuseReplies;
    // A shorter inbox than createInbox()'s 22 random characters: it is in every frame both ways.
    this.prefix = `_INBOX.${nuid.next().slice(-10)}.`;
    this.prefixBytes = Buffer.byteLength(this.prefix);
    this.writer = frames ? frameWriterOf(nc) : undefined;
    nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.sweeper = setInterval(() => this.expire(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Publishes `data` to `subject` with `headerBlock` (a NATS header block in wire form) as its
   * headers, or none; `listener` is told once, with `index`, of the PubAck's verdict (synchronously when the
   * client refuses the publish). `at` is performance.now() of the caller, for the timeout.
   */
  publish(
    subject: string,
    headerBlock: string | undefined,
    data: string,
    at: number,
    listener: PublishListener,
    index: number,
  ): void {
    const n = this.free.pop() ?? ++this.next;
    this.pending.set(n, { listener, index, at });
    const reply = this.prefix + n;
    try {
      if (this.writer !== undefined) this.writeFrame(this.writer, subject, reply, headerBlock, data);
      else this.viaClient(subject, reply, headerBlock, data);
    } catch (err) {
      this.pending.delete(n);
      listener.settled(index, 'failed', at, err as Error);
    }
  }

  /** The checks nc.publish() makes that can fail here (a closed or draining connection, the size). */
  private writeFrame(
    writer: FrameWriter,
    subject: string,
    reply: string,
    headerBlock: string | undefined,
    data: string,
  ): void {
    if (this.nc.isClosed() || writer.noMorePublishing === true) throw new Error('NATS connection closed');
    const frame = this.bytes.frame(subject, reply, headerBlock, data);
    const size = this.bytes.size;
    const max = writer.info?.max_payload;
    if (max !== undefined && size > max)
      throw new Error(`message of ${size} bytes exceeds max_payload ${max}`);
    writer.sendCommand(frame);
  }

  private viaClient(subject: string, reply: string, headerBlock: string | undefined, data: string): void {
    const options = this.options;
    options.reply = reply;
    if (headerBlock === undefined) options.headers = undefined;
    else {
      this.headers.bytes = this.bytes.utf8(headerBlock);
      options.headers = this.headers;
    }
    this.nc.publish(subject, this.bytes.utf8(data), options);
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
      const headers = `NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: ${expectedRevision}\r\n\r\n`;
      this.publish(subject, headers, data, performance.now(), listener, 0);
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

  /**
   * The <n> of the reply subject `<prefix><n>`: read from the subject's bytes when the message
   * exposes them (client-internals.ts), sparing a TextDecoder call per PubAck.
   */
  private replyNumber(msg: Msg): number {
    const raw = subjectBytes(msg);
    if (raw === undefined) return Number(msg.subject.slice(this.prefix.length));
    let n = 0;
    for (let i = this.prefixBytes; i < raw.length; i++) {
      const digit = raw[i] - 0x30;
      if (digit < 0 || digit > 9) return NaN;
      n = n * 10 + digit;
    }
    return raw.length > this.prefixBytes ? n : NaN;
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
