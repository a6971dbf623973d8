// @cbsa/client/react-native: the queue in AsyncStorage, and reconnecting when the app comes to the
// foreground. Both take the module they use as an argument, so this entry imports nothing: the
// `@react-native-async-storage/async-storage` peer dependency is optional.
import type { QueueStorage, StorageEntry } from './storage.js';

/** The calls of `@react-native-async-storage/async-storage` (v1 and v2) the adapter uses. */
export interface AsyncStorageLike {
  getAllKeys(): Promise<readonly string[]>;
  multiGet(keys: readonly string[]): Promise<readonly (readonly [string, string | null])[]>;
  multiSet(pairs: ReadonlyArray<readonly [string, string]>): Promise<void>;
  multiRemove(keys: readonly string[]): Promise<void>;
}

/**
 * A QueueStorage on AsyncStorage. An event and the next seq go in one `multiSet` (atomic on both
 * platforms' stores); deletions follow in a `multiRemove`.
 */
export function asyncStorageQueue(storage: AsyncStorageLike): QueueStorage {
  return {
    async load(prefix: string): Promise<StorageEntry[]> {
      const keys = (await storage.getAllKeys()).filter((key) => key.startsWith(prefix));
      const pairs = await storage.multiGet(keys);
      return pairs.filter((pair): pair is [string, string] => pair[1] !== null);
    },
    async write(set: StorageEntry[], remove: string[]): Promise<void> {
      if (set.length) await storage.multiSet(set);
      if (remove.length) await storage.multiRemove(remove);
    },
  };
}

/** The part of React Native's `AppState` used here. */
export interface AppStateLike {
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void };
}

/** The part of the client the AppState adapter drives. */
export interface Wakeable {
  wake(): void;
}

/** Reconnects at once when the app comes to the foreground; returns what stops watching. */
export function reconnectOnForeground(client: Wakeable, appState: AppStateLike): () => void {
  const subscription = appState.addEventListener('change', (state) => {
    if (state === 'active') client.wake();
  });
  return () => subscription.remove();
}
