// The engines the fault table runs against, by name (`npm run chaos -- --engine <name>`).
// A new engine adds its Broker here.
import type { Broker } from './log.js';
import { RedisBroker } from './redis-broker.js';

export const BROKERS: Record<string, () => Broker> = {
  'redis-stream': () => new RedisBroker(),
};
