// Jest runs the TypeScript sources as ES modules (Nest 12 packages are ESM): `npm test` sets
// NODE_OPTIONS=--experimental-vm-modules (and --expose-gc for the memory checks).
// Three projects, in two tiers:
// - `npm test`: `unit` (specs beside the code in src/ and chaos/, and the SDK's client/test/) and `e2e`
//   (test/*.e2e-spec.ts: the real app in the Jest process);
// - `npm run test:system`: `system` (test/*.system-spec.ts: service processes, clusters, private
//   redis-server and nats-server, Chromium, the quick chaos run and the bench smoke run).
const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // The SDK's README example imports the package by name, React Native's AsyncStorage and AppState.
    '^@cbsa/client$': '<rootDir>/client/src/index.ts',
    '^@cbsa/client/react-native$': '<rootDir>/client/src/react-native.ts',
    '^@react-native-async-storage/async-storage$': '<rootDir>/client/test/async-storage-fake.ts',
    '^react-native$': '<rootDir>/client/test/react-native-fake.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

export default {
  testTimeout: 30_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/src/**/*.spec.ts',
        '<rootDir>/chaos/**/*.spec.ts',
        '<rootDir>/client/test/**/*.spec.ts',
      ],
    },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
    { ...shared, displayName: 'system', testMatch: ['<rootDir>/test/**/*.system-spec.ts'] },
  ],
};
