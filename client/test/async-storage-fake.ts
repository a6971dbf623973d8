// An in-memory @react-native-async-storage/async-storage (the calls the README adapter uses), mapped
// in for that module by jest.config.js.
const map = new Map<string, string>();

const AsyncStorage = {
  getAllKeys: () => Promise.resolve([...map.keys()]),
  multiGet: (keys: readonly string[]) =>
    Promise.resolve(keys.map((key): [string, string | null] => [key, map.get(key) ?? null])),
  multiSet: (pairs: ReadonlyArray<readonly [string, string]>) => {
    for (const [key, value] of pairs) map.set(key, value);
    return Promise.resolve();
  },
  multiRemove: (keys: readonly string[]) => {
    for (const key of keys) map.delete(key);
    return Promise.resolve();
  },
  /** Test only: what is stored. */
  dump: () => new Map(map),
};
export default AsyncStorage;
