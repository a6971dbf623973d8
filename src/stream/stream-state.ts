// Without Redis: each resumable stream's last accepted seq, in memory. A Map kept in recency order
// (a touched stream is re-inserted at the end), so the least recently used stream is the first key:
// eviction past STREAM_STATE_MAX and expiry after STREAM_STATE_TTL_S both pop from the front.

interface Entry {
  seq: number;
  at: number;
}

export class MemoryStreamState {
  private readonly streams = new Map<string, Entry>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** The last accepted seq, 0 when unknown or expired. */
  lastSeq(stream: string, now = Date.now()): number {
    const entry = this.streams.get(stream);
    if (entry === undefined) return 0;
    if (now - entry.at > this.ttlMs) {
      this.streams.delete(stream);
      return 0;
    }
    return entry.seq;
  }

  /** Records an accepted seq (the caller checked it is above lastSeq). */
  accept(stream: string, seq: number, now = Date.now()): void {
    this.streams.delete(stream);
    this.streams.set(stream, { seq, at: now });
    if (this.streams.size > this.max) this.streams.delete(this.streams.keys().next().value!);
  }

  /** Forgets the streams `matches` picks (erasure by subject); returns how many. */
  forget(matches: (stream: string) => boolean): number {
    let n = 0;
    for (const stream of this.streams.keys()) {
      if (matches(stream)) {
        this.streams.delete(stream);
        n++;
      }
    }
    return n;
  }

  /** Drops expired streams; they sit at the front. */
  sweep(now = Date.now()): void {
    for (const [stream, entry] of this.streams) {
      if (now - entry.at <= this.ttlMs) break;
      this.streams.delete(stream);
    }
  }
}
