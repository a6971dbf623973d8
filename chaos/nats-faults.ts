// The faults run against NATS JetStream: the engine-neutral ones of the shared table that
// apply (a service killed, connections severed, two connections on a stream, the broker killed),
// the broker stopped with SIGTERM too, and on a three-node cluster the stream leader killed.
import { FAULTS, type Fault } from './faults.js';
import { NatsBroker } from './nats-broker.js';
import { sleep } from '../harness/wait.mjs';

function shared(name: string): Fault {
  const fault = FAULTS.find((f) => f.name === name);
  if (fault === undefined) throw new Error(`no fault named "${name}" in chaos/faults.ts`);
  return fault;
}

/** Single node. Not here: "restarted empty" (the stream itself is gone, and the service refuses
 * until an operator recreates it, by design), and WORKERS=2 (needs the Redis bus). */
export const NATS_FAULTS: Fault[] = [
  shared('kill -9 of an instance, then restart'),
  shared('SIGTERM under load, then restart'),
  shared('broker restarted with its data (kill -9)'),
  {
    name: 'broker restarted with its data (SIGTERM)',
    async inject({ broker, brokerFault }) {
      await brokerFault(async () => {
        await broker.restart({ keepData: true, signal: 'SIGTERM' });
      });
    },
  },
  shared('broker stalled (SIGSTOP, SIGCONT)'),
  shared('connections severed at random'),
  shared('two connections on one stream, one instance'),
  shared('two connections on one stream, two instances'),
  shared('rate-limit close (1008)'),
  shared('heartbeat terminate (clients stop answering pings)'),
  {
    name: 'resend after the duplicate window (2 s), two instances',
    instances: 2,
    // A cache of one stream: each instance reads KV again for nearly every batch and for the replay,
    // so a last_seq that went backwards, or a stale view, would show.
    env: { NATS_DUPLICATE_WINDOW_S: '2', STREAM_STATE_MAX: '1' },
    extraClients: [
      { connections: 2, secondOn: 'next', ratePerSec: 0 },
      { connections: 2, secondOn: 'next', ratePerSec: 0 },
    ],
    replayAfterMs: 2500,
    async inject({ size }) {
      await sleep(size.faultMs);
    },
  },
];

/** The short set `npm run test:system` runs (test/chaos-nats.system-spec.ts): one fault of each kind that NATS changes. */
export const NATS_TEST_FAULTS = [
  'kill -9 of an instance, then restart',
  'broker restarted with its data (kill -9)',
  'broker restarted with its data (SIGTERM)',
  'connections severed at random',
  'two connections on one stream, one instance',
  'two connections on one stream, two instances',
  'resend after the duplicate window (2 s), two instances',
];

/** Three nodes, NATS_REPLICAS=3: the node leading the stream is killed mid-load. The fault lasts
 * until the two others have elected a leader; then the load goes on on two nodes for `faultMs` (any
 * refusal then counts: the cluster has a quorum), then the node comes back with its store and
 * catches up. */
export const NATS_CLUSTER_FAULTS: Fault[] = [
  {
    name: 'three-node cluster, stream leader killed -9',
    async inject({ broker, brokerFault, size }) {
      const cluster = broker as NatsBroker;
      await brokerFault(async () => {
        await cluster.waitForNewLeader(await cluster.killLeader());
      });
      await sleep(size.faultMs);
      await cluster.restartDead();
    },
  },
];
