// The parts of @react-native-async-storage/async-storage (v1 and v2) and react-native the README's
// example uses, with the packages' own signatures, so it is type-checked here without React Native.
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
declare module 'react-native' {
  type AppStateStatus = 'active' | 'background' | 'inactive' | 'unknown' | 'extension';
  export const AppState: {
    addEventListener(type: 'change', listener: (state: AppStateStatus) => void): { remove(): void };
  };
}
