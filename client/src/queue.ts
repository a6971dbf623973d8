// The write-ahead queue of one stream. An event gets its seq in memory, then it and the next seq are
// written to the storage in one `write`; only then is its `send()` resolved and may it go on the wire.
// So after a kill at any moment the stored next seq is above every seq the service ever saw, and a
// restart never gives a seq to a second event. Writes run one at a time, in order; events sent while
// one runs go in the next.
import type { QueueStorage, StorageEntry } from './storage.js';

export interface Entry {
  seq: number;
  /** The event's JSON text without `seq`; the frame is this with `"seq":S` spliced in first. */
  body: string;
}

interface Pending extends Entry {
  resolve: (seq: number) => void;
  reject: (error: unknown) => void;
}

/** A failed write is retried after this long when it held only deletions. */
const RETRY_MS = 1000;

export class WriteAheadQueue {
  /** Durable events not yet confirmed, in seq order: only these may be sent. */
  readonly entries: Entry[] = [];
  /** Events waiting for the next write. */
  private pending: Pending[] = [];
  /** The events of the write that runs. */
  private batch: Pending[] = [];
  private removals = new Set<string>();
  private sets = new Map<string, string>();
  private writing = false;
  private retry?: ReturnType<typeof setTimeout>;
  private idle: (() => void)[] = [];
  bytes = 0;

  constructor(
    private readonly storage: QueueStorage,
    private readonly prefix: string,
    /** The seq the next event gets: above every seq this device ever assigned on the stream. */
    public next: number,
    /** Called after each write of events, done or failed. */
    private readonly onWritten: () => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** The highest seq ever assigned on this stream (0: none). */
  get highest(): number {
    return this.next - 1;
  }

  /** Events not yet written (or being written). */
  get waiting(): number {
    return this.batch.length + this.pending.length;
  }

  /** The lowest seq not yet written (Infinity: none). */
  get firstUnwritten(): number {
    return (this.batch[0] ?? this.pending[0])?.seq ?? Infinity;
  }

  add(body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ seq: this.next++, body, resolve, reject });
      this.schedule();
    });
  }

  /** Forgets entries[index] (confirmed or dropped); its key is deleted with the next write. */
  remove(index: number): Entry {
    const [entry] = this.entries.splice(index, 1);
    this.bytes -= entry.body.length;
    this.removals.add(this.prefix + entry.seq);
    this.schedule();
    return entry;
  }

  /** A key outside the queue (the stream id), written with the next write. */
  put(key: string, value: string): void {
    this.sets.set(key, value);
    this.schedule();
  }

  /** Resolves once every write asked for so far has been tried. */
  settled(): Promise<void> {
    if (!this.writing && !this.pending.length && !this.removals.size && !this.sets.size) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    // A microtask: the sends of one tick share a write.
    if (!this.writing) {
      this.writing = true;
      void Promise.resolve().then(() => this.write());
    }
  }

  private async write(): Promise<void> {
    clearTimeout(this.retry);
    const batch = (this.batch = this.pending.splice(0));
    const removals = [...this.removals];
    const others = [...this.sets];
    this.removals.clear();
    this.sets.clear();
    const set = others.concat(batch.map((entry): StorageEntry => [this.prefix + entry.seq, entry.body]));
    if (batch.length) set.push([this.prefix + 'n', String(this.next)]);
    let failed = false;
    try {
      if (set.length || removals.length) await this.storage.write(set, removals);
      for (const entry of batch) {
        this.entries.push({ seq: entry.seq, body: entry.body });
        this.bytes += entry.body.length;
        entry.resolve(entry.seq);
      }
    } catch (error) {
      failed = true;
      this.onError(error);
      // Tried again with the next write. The batch's events are given up (their promises reject and
      // their seqs are never reused), and deleted too in case the write got through after all.
      for (const key of removals) this.removals.add(key);
      for (const [key, value] of others) if (!this.sets.has(key)) this.sets.set(key, value);
      for (const entry of batch) {
        this.removals.add(this.prefix + entry.seq);
        entry.reject(error);
      }
    }
    this.batch = [];
    this.writing = false;
    if (this.pending.length) this.schedule();
    else if (this.removals.size || this.sets.size) {
      if (failed) this.retry = setTimeout(() => this.schedule(), RETRY_MS);
      else this.schedule();
    }
    if (!this.writing) for (const resolve of this.idle.splice(0)) resolve();
    if (batch.length) this.onWritten();
  }
}
