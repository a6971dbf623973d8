// Resume state with SINK=nats: each resumable stream's last_seq, in the JetStream KV bucket
// `<NATS_STREAM>_streams` (TTL STREAM_STATE_TTL_S). It is written only after the PubAck of the
// events it covers, so it is never ahead of what the log holds, and only by compare-and-set on the
// key's revision (create, or update at the revision last seen), so it only rises: a writer that
// lost a race reads the key again and writes only when its seq is still higher. Several instances
// may write one stream (a client that moved, or two connections of one stream).
import type { KV } from '@nats-io/kv';

interface Entry {
  /** Highest seq the bucket is known to hold (written by this process, or read from it). */
  written: number;
  /** Highest seq whose PubAck arrived; written next. */
  wanted: number;
  writing: boolean;
  /** Callers waiting for `written` to reach a seq. */
  waiters: { seq: number; stream: string; done: (stream: string, ok: boolean) => void }[];
}

/** What the bucket held when last read or written by this process. */
interface Seen {
  seq: number;
  /** The key's revision then; 0 when the key did not exist. */
  revision: number;
  /** Date.now() when the request that saw it was sent: nobody had written a higher seq before then. */
  at: number;
}

/** KV keys allow [-/_=.A-Za-z0-9]; stream ids may hold ':' and '@', so keys are base64url (no dots). */
export function stateKey(stream: string): string {
  return Buffer.from(stream).toString('base64url');
}

/** Lost races in a row before a write gives up (and its entries fail, to be resent). */
const ATTEMPTS = 10;

export class NatsStreamState {
  private readonly entries = new Map<string, Entry>();
  /** Revisions last seen per stream (LRU-bounded), so a write is one update, not a read and an update. */
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly kv: KV,
    /** Fails a request cut off by a disconnect at once rather than at its timeout. */
    private readonly guard: <T>(request: Promise<T>) => Promise<T> = (request) => request,
    private readonly maxSeen = 100_000,
    private readonly now: () => number = Date.now,
    /**
     * Writes `value` to `key` if the key's revision is `revision` (0: it must not exist); resolves
     * with the new revision. The sink passes one through its pipelined publisher.
     */
    private readonly compareAndSet: (key: string, value: string, revision: number) => Promise<number> = (
      key,
      value,
      revision,
    ) => (revision === 0 ? this.kv.create(key, value) : this.kv.update(key, value, revision)),
  ) {}

  /** Keys in the bucket: one message per stream (history 1), expired ones gone with the bucket's TTL. */
  async count(): Promise<number> {
    return (await this.guard(this.kv.status())).values;
  }

  /** The stream's last durably recorded seq, 0 when unknown. */
  async lastSeq(stream: string): Promise<number> {
    return (await this.read(stream)).seq;
  }

  /**
   * Records, per stream, that its seq is in the log. Resolves once the bucket holds at least each
   * seq, with the streams whose write failed (none: all written). Writes are coalesced: one in
   * flight per stream, carrying the highest seq asked so far, so the batches in flight cost a few KV
   * writes per stream, and each is a compare-and-set that never lowers the key. One promise per
   * call, not per stream.
   */
  recordAll(seqs: ReadonlyMap<string, number>): Promise<string[]> {
    const failed: string[] = [];
    let left = 0;
    let resolve!: (failed: string[]) => void;
    const all = new Promise<string[]>((r) => (resolve = r));
    const done = (stream: string, ok: boolean) => {
      if (!ok) failed.push(stream);
      if (--left === 0) resolve(failed);
    };
    for (const [stream, seq] of seqs) {
      let entry = this.entries.get(stream);
      if (entry === undefined) {
        entry = { written: 0, wanted: 0, writing: false, waiters: [] };
        this.entries.set(stream, entry);
      }
      if (seq <= entry.written) continue;
      if (seq > entry.wanted) entry.wanted = seq;
      left++;
      entry.waiters.push({ seq, stream, done });
      if (!entry.writing) void this.write(stream, entry);
    }
    return left === 0 ? Promise.resolve(failed) : all;
  }

  private async read(stream: string): Promise<Seen> {
    const at = this.now();
    const entry = await this.guard(this.kv.get(stateKey(stream)));
    let seen: Seen;
    if (entry === null) seen = { seq: 0, revision: 0, at };
    else {
      const seq = entry.operation === 'PUT' ? Number(entry.string()) : 0;
      seen = { seq: Number.isSafeInteger(seq) && seq > 0 ? seq : 0, revision: entry.revision, at };
    }
    this.see(stream, seen);
    return seen;
  }

  private see(stream: string, seen: Seen): void {
    this.seen.delete(stream);
    this.seen.set(stream, seen);
    if (this.seen.size > this.maxSeen) this.seen.delete(this.seen.keys().next().value!);
  }

  /**
   * Raises the key to `target` unless it already holds as much: update at the revision last seen
   * (create when the key never existed); on a lost race read it again and retry.
   */
  private async raise(stream: string, target: number): Promise<number> {
    const key = stateKey(stream);
    let seen = this.seen.get(stream) ?? (await this.read(stream));
    for (let attempt = 0; ; attempt++) {
      if (seen.seq >= target) return seen.seq;
      const at = this.now();
      try {
        const revision = await this.guard(this.compareAndSet(key, String(target), seen.revision));
        this.see(stream, { seq: target, revision, at });
        return target;
      } catch (err) {
        // Another writer moved the key (or it expired, or NATS failed): read it again and decide.
        this.seen.delete(stream);
        if (attempt + 1 >= ATTEMPTS) throw err;
        seen = await this.read(stream);
      }
    }
  }

  private async write(stream: string, entry: Entry): Promise<void> {
    entry.writing = true;
    while (entry.wanted > entry.written) {
      const target = entry.wanted;
      let ok = true;
      try {
        entry.written = Math.max(entry.written, await this.raise(stream, target));
      } catch {
        ok = false;
      }
      const waiting = entry.waiters;
      entry.waiters = [];
      for (const waiter of waiting) {
        if (waiter.seq <= entry.written) waiter.done(waiter.stream, true);
        else if (!ok) waiter.done(waiter.stream, false);
        else entry.waiters.push(waiter);
      }
      if (!ok) {
        // Nothing newer than what is written is promised; the next record() tries again.
        entry.wanted = entry.written;
        break;
      }
    }
    entry.writing = false;
    if (entry.waiters.length === 0) this.entries.delete(stream);
  }

  /**
   * The seq this process last saw in the bucket for a stream (read, or written by compare-and-set),
   * if it saw it at `since` or later; undefined otherwise (the caller reads the bucket again).
   */
  seenSince(stream: string, since: number): number | undefined {
    const seen = this.seen.get(stream);
    return seen !== undefined && seen.at >= since ? seen.seq : undefined;
  }
}
