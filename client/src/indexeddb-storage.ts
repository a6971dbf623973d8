// QueueStorage on the browser's IndexedDB: one object store of string keys and values.
import type { QueueStorage, StorageEntry } from './storage.js';

// The few IndexedDB shapes used here, so the package needs no DOM typings.
interface Req<T> {
  result: T;
  error: Error | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface Store {
  getAllKeys(range: unknown): Req<string[]>;
  getAll(range: unknown): Req<string[]>;
  put(value: string, key: string): unknown;
  delete(key: string): unknown;
}
interface Tx {
  objectStore(name: string): Store;
  error: Error | null;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
interface Db {
  transaction(store: string, mode: 'readonly' | 'readwrite'): Tx;
  createObjectStore(name: string): unknown;
}
interface IdbGlobals {
  indexedDB: { open(name: string, version: number): Req<Db> & { onupgradeneeded: (() => void) | null } };
  IDBKeyRange: { bound(lower: string, upper: string): unknown };
}

const STORE = 'kv';

function done<T>(req: Req<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

/** Keeps the queue in the IndexedDB database `name` (default `cbsa`), for browsers. */
export class IndexedDBStorage implements QueueStorage {
  private db?: Promise<Db>;
  readonly lockName: string;

  constructor(private readonly name = 'cbsa') {
    this.lockName = `indexeddb:${name}`;
  }

  private open(): Promise<Db> {
    const idb = globalThis as unknown as IdbGlobals;
    if (!this.db) {
      const req = idb.indexedDB.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      this.db = done(req);
    }
    return this.db;
  }

  async load(prefix: string): Promise<StorageEntry[]> {
    const db = await this.open();
    const range = (globalThis as unknown as IdbGlobals).IDBKeyRange.bound(prefix, prefix + '\uffff');
    const store = db.transaction(STORE, 'readonly').objectStore(STORE);
    const [keys, values] = await Promise.all([done(store.getAllKeys(range)), done(store.getAll(range))]);
    return keys.map((key, i) => [key, values[i]]);
  }

  async write(set: StorageEntry[], remove: string[]): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const [key, value] of set) store.put(value, key);
    for (const key of remove) store.delete(key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }
}
