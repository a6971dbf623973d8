import AsyncStorage from '@react-native-async-storage/async-storage';
import type { QueueStorage, StorageEntry } from '@cbsa/client';

/** The SDK's queue in React Native's AsyncStorage: one key per queued event, all under `cbsa/`. */
export const asyncStorageQueue: QueueStorage = {
  async load(prefix: string): Promise<StorageEntry[]> {
    const keys = (await AsyncStorage.getAllKeys()).filter((key) => key.startsWith(prefix));
    const pairs = await AsyncStorage.multiGet(keys);
    return pairs.filter((pair): pair is [string, string] => pair[1] !== null);
  },
  async write(set: StorageEntry[], remove: string[]): Promise<void> {
    if (set.length) await AsyncStorage.multiSet(set);
    if (remove.length) await AsyncStorage.multiRemove(remove);
  },
};
