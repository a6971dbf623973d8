// Without Redis: each resumable stream's last accepted seq, in memory. A Map kept in recency order
// (a touched stream is re-inserted at the end), so the least recently used stream is the first key:
// eviction past STREAM_STATE_MAX or STREAM_STATE_MAX_BYTES and expiry after STREAM_STATE_TTL_S all
// pop from the front. An evicted stream's old seqs would be accepted again: evictions are counted.

interface Entry {
  seq: number;
  at: number;
}

/**
 * What one entry costs on the heap besides its key: the Map's slot, the entry object and its two
 * numbers (`at` is a heap number), the key string's header. Measured entries cost 149-309 B for
 * keys of 1-200 characters; this estimate with two bytes per key character stays above them.
 */
export const ENTRY_OVERHEAD_BYTES = 140;
/** The least an entry costs: the count bound is checked against the heap with it. */
export const ENTRY_MIN_BYTES = 150;

export function entryBytes(stream: string): number {
  return ENTRY_OVERHEAD_BYTES + 2 * stream.length;
}

export class MemoryStreamState {
  private readonly streams = new Map<string, Entry>();
  private bytesHeld = 0;
  /** Streams dropped while still within their TTL, to stay within the bounds. */
  evictions = 0;

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    private readonly maxBytes = Infinity,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** The estimated heap held by the entries (entryBytes each). */
  get bytes(): number {
    return this.bytesHeld;
  }

  /** The last accepted seq, 0 when unknown or expired. */
  lastSeq(stream: string, now = Date.now()): number {
    const entry = this.streams.get(stream);
    if (entry === undefined) return 0;
    if (now - entry.at > this.ttlMs) {
      this.remove(stream);
      return 0;
    }
    return entry.seq;
  }

  /** Records an accepted seq (the caller checked it is above lastSeq). */
  accept(stream: string, seq: number, now = Date.now()): void {
    if (this.streams.delete(stream)) this.bytesHeld -= entryBytes(stream);
    this.streams.set(stream, { seq, at: now });
    this.bytesHeld += entryBytes(stream);
    while (this.streams.size > this.max || (this.bytesHeld > this.maxBytes && this.streams.size > 1)) {
      const [oldest, entry] = this.streams.entries().next().value!;
      this.remove(oldest);
      if (now - entry.at <= this.ttlMs) this.evictions++;
    }
  }

  /** Drops expired streams; they sit at the front. */
  sweep(now = Date.now()): void {
    for (const [stream, entry] of this.streams) {
      if (now - entry.at <= this.ttlMs) break;
      this.remove(stream);
    }
  }

  private remove(stream: string): void {
    if (this.streams.delete(stream)) this.bytesHeld -= entryBytes(stream);
  }
}
