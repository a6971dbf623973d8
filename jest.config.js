// Jest runs the TypeScript sources as ES modules (Nest 12 packages are ESM): `npm test` sets
// NODE_OPTIONS=--experimental-vm-modules (and --expose-gc for the memory checks).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // The SDK's README example imports the package by name, and React Native's AsyncStorage.
    '^@cbsa/client$': '<rootDir>/client/src/index.ts',
    '^@react-native-async-storage/async-storage$': '<rootDir>/client/test/async-storage-fake.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 30_000,
};
