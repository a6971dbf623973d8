// Resume state with SINK=nats: each resumable stream's last_seq, in the JetStream KV bucket
// `<NATS_STREAM>_streams` (TTL STREAM_STATE_TTL_S). It is written only after the PubAck of the
// events it covers, so it is never ahead of what the log holds. Reads go through the KV client;
// writes are a plain put (a publish on `$KV.<bucket>.<key>`, as the KV client's put does) through
// the sink's pipelined publisher when one is given, because a batch writes one key per stream in it.
import type { KV } from '@nats-io/kv';

interface Entry {
  /** Highest seq stored in the KV bucket by this process (or read from it). */
  written: number;
  /** Highest seq whose PubAck arrived; written next. */
  wanted: number;
  writing: boolean;
  /** Callers waiting for `written` to reach a seq. */
  waiters: { seq: number; stream: string; done: (stream: string, ok: boolean) => void }[];
}

/** KV keys allow [-/_=.A-Za-z0-9]; stream ids may hold ':' and '@', so keys are base64url (no dots). */
export function stateKey(stream: string): string {
  return Buffer.from(stream).toString('base64url');
}

export class NatsStreamState {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly kv: KV,
    /** Fails a request cut off by a disconnect at once rather than at its timeout. */
    private readonly guard: <T>(request: Promise<T>) => Promise<T> = (request) => request,
    /** Writes a key; rejects when the write is not acknowledged. */
    private readonly put: (key: string, value: string) => Promise<unknown> = (key, value) =>
      this.guard(this.kv.put(key, value)),
  ) {}

  /** Keys in the bucket: one message per stream (history 1), expired ones gone with the bucket's TTL. */
  async count(): Promise<number> {
    return (await this.guard(this.kv.status())).values;
  }

  /** The stream's last durably recorded seq, 0 when unknown. */
  async lastSeq(stream: string): Promise<number> {
    const entry = await this.guard(this.kv.get(stateKey(stream)));
    const seq = entry === null || entry.operation !== 'PUT' ? 0 : Number(entry.string());
    return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
  }

  /**
   * Records, per stream, that its seq is in the log. Resolves once the bucket holds at least each
   * seq, with the streams whose write failed (none: all written). Writes are coalesced: one in
   * flight per stream, carrying the highest seq asked so far, so the batches in flight cost a few KV
   * writes per stream and a write never goes backwards. One promise per call, not per stream.
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

  private async write(stream: string, entry: Entry): Promise<void> {
    entry.writing = true;
    while (entry.wanted > entry.written) {
      const target = entry.wanted;
      let ok = true;
      try {
        await this.put(stateKey(stream), String(target));
      } catch {
        ok = false;
      }
      if (ok) entry.written = target;
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
}
