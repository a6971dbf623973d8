// Where the queue and the next seq live between app starts. The interface is two calls so that any
// key-value store (IndexedDB, AsyncStorage, SQLite, a file) can back it in a few lines.

/** A key and its value, both strings. */
export type StorageEntry = [key: string, value: string];

/**
 * A small async key-value store. The client keeps one key per queued event and one for the next seq,
 * all under `cbsa/`. Either method may return its result directly instead of a promise.
 */
export interface QueueStorage {
  /** Every stored entry whose key starts with `prefix`, in any order. */
  load(prefix: string): Promise<StorageEntry[]> | StorageEntry[];
  /** Stores `set` and deletes `remove` (keys that may not exist), atomically if the store can. */
  write(set: StorageEntry[], remove: string[]): Promise<void> | void;
}

/**
 * The default: the queue lives only as long as the process (or the page). A new client on a fresh
 * MemoryStorage generates a new stream id, so a restart never reuses seqs.
 */
export class MemoryStorage implements QueueStorage {
  private readonly map = new Map<string, string>();

  load(prefix: string): StorageEntry[] {
    return [...this.map].filter(([key]) => key.startsWith(prefix));
  }

  write(set: StorageEntry[], remove: string[]): void {
    for (const [key, value] of set) this.map.set(key, value);
    for (const key of remove) this.map.delete(key);
  }
}
