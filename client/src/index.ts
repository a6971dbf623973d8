// @cbsa/client: exactly-once streaming of behavioural events to CBSA, with zero runtime dependencies.
export { CbsaClient } from './client.js';
export type {
  Ack,
  CbsaClientOptions,
  ClientEvents,
  Drop,
  DropReason,
  Stats,
  Status,
  Tamper,
} from './client.js';
export { MemoryStorage } from './storage.js';
export type { QueueStorage, StorageEntry } from './storage.js';
export { IndexedDBStorage } from './indexeddb-storage.js';
export type { WebSocketConstructor } from './transport.js';
