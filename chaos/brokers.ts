// The engines the fault table runs against, by name (`npm run chaos -- --engine <name>`): each with
// its Broker and the faults that apply to it. A new engine adds itself here.
import type { Fault } from './faults.js';
import { FAULTS } from './faults.js';
import type { Broker } from './log.js';
import { NatsBroker } from './nats-broker.js';
import { NATS_CLUSTER_FAULTS, NATS_FAULTS } from './nats-faults.js';
import { RedisBroker } from './redis-broker.js';

export const BROKERS: Record<string, () => Broker> = {
  'redis-stream': () => new RedisBroker(),
  nats: () => new NatsBroker(1),
  'nats-cluster': () => new NatsBroker(3),
};

/** The faults each engine runs (the whole shared table unless it says otherwise). */
export const ENGINE_FAULTS: Record<string, Fault[]> = {
  nats: NATS_FAULTS,
  'nats-cluster': NATS_CLUSTER_FAULTS,
};

export function faultsOf(engine: string): Fault[] {
  return ENGINE_FAULTS[engine] ?? FAULTS;
}
