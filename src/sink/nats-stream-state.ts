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
  waiters: { seq: number; done: (ok: boolean) => void }[];
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

  /** The stream's last durably recorded seq, 0 when unknown. */
  async lastSeq(stream: string): Promise<number> {
    const entry = await this.guard(this.kv.get(stateKey(stream)));
    const seq = entry === null || entry.operation !== 'PUT' ? 0 : Number(entry.string());
    return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
  }

  /**
   * Records that `seq` of `stream` is in the log. Resolves true once the bucket holds at least seq,
   * false when the write failed. Writes are coalesced: one in flight per stream, carrying the
   * highest seq acked so far, so a burst of acks costs a few KV writes and never goes backwards.
   */
  record(stream: string, seq: number): Promise<boolean> {
    let entry = this.entries.get(stream);
    if (entry === undefined) {
      entry = { written: 0, wanted: 0, writing: false, waiters: [] };
      this.entries.set(stream, entry);
    }
    if (seq <= entry.written) return Promise.resolve(true);
    if (seq > entry.wanted) entry.wanted = seq;
    const done = new Promise<boolean>((resolve) => entry.waiters.push({ seq, done: resolve }));
    if (!entry.writing) void this.write(stream, entry);
    return done;
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
        if (waiter.seq <= entry.written) waiter.done(true);
        else if (!ok) waiter.done(false);
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
