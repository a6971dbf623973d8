// The part of @react-native-async-storage/async-storage (v1 and v2) the README's adapter uses, with
// the package's own signatures, so the adapter is type-checked here without React Native installed.
declare module '@react-native-async-storage/async-storage' {
  type KeyValuePair = [string, string | null];
  const AsyncStorage: {
    getAllKeys(): Promise<readonly string[]>;
    multiGet(keys: readonly string[]): Promise<readonly KeyValuePair[]>;
    multiSet(keyValuePairs: ReadonlyArray<readonly [string, string]>): Promise<void>;
    multiRemove(keys: readonly string[]): Promise<void>;
  };
  export default AsyncStorage;
}
