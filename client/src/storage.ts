// Where the queue and the next seq live between app starts. The interface is two calls so that any
// key-value store (IndexedDB, AsyncStorage, SQLite, a file) can back it in a few lines.

/** A key and its value, both strings. */
export type StorageEntry = [key: string, value: string];

/**
 * A small async key-value store. The client keeps one key per queued event and one for the next seq,
 * all under `cbsa/`. Either method may return its result directly instead of a promise. `write` is
 * the client's commit: an event and the next seq after it arrive in one call, and the event goes on
 * the wire only once the call resolved, so it must resolve only when the data would survive a kill
 * (and reject, or throw, when it failed).
 */
export interface QueueStorage {
  /** Every stored entry whose key starts with `prefix`, in any order. */
  load(prefix: string): Promise<StorageEntry[]> | StorageEntry[];
  /** Stores `set` and deletes `remove` (keys that may not exist), atomically if the store can. */
  write(set: StorageEntry[], remove: string[]): Promise<void> | void;
  /**
   * Names the store among those of this origin (browsers) or process, for the lock that keeps one
   * client per stream: clients on stores with the same name never share a stream. Default ''.
   */
  readonly lockName?: string;
}

/**
 * The default: the queue lives only as long as the process (or the page). A new client on a fresh
 * MemoryStorage generates a new stream id, so a restart never reuses seqs.
 */
export class MemoryStorage implements QueueStorage {
  private readonly map = new Map<string, string>();
  readonly lockName = `memory:${Math.random().toString(36).slice(2)}`;

  load(prefix: string): StorageEntry[] {
    return [...this.map].filter(([key]) => key.startsWith(prefix));
  }

  write(set: StorageEntry[], remove: string[]): void {
    for (const [key, value] of set) this.map.set(key, value);
    for (const key of remove) this.map.delete(key);
  }
}
