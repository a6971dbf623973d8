// The fault table. Faults act on the service processes, the client connections, or
// the broker through the `Broker` interface, so every fault runs against any engine that has a
// Broker (Redis Streams here; NATS JetStream plugs in the same way).
import { Redis } from 'ioredis';
import type { CuttingProxy } from './proxy.js';
import type { Instance } from '../harness/instance.mjs';
import type { Broker } from './log.js';
import { sleep } from '../harness/wait.mjs';

export interface Size {
  /** Well-behaved clients (one stream each), besides the fault's own. */
  clients: number;
  /** Frames in flight per connection. */
  window: number;
  /** Load before the fault, and after it, before the drain. */
  warmupMs: number;
  afterMs: number;
  /** How long faults that last (cutting, contention, mute clients) go on. */
  faultMs: number;
  /** The broker stall (SIGSTOP .. SIGCONT). */
  stallMs: number;
  /** Per stream, never more events than this. */
  maxEvents: number;
  /** Longest wait for every queue to be confirmed after the load stops. */
  drainMs: number;
}

export const QUICK: Size = {
  clients: 4,
  window: 16,
  warmupMs: 600,
  afterMs: 800,
  faultMs: 1500,
  stallMs: 4000,
  maxEvents: 20_000,
  drainMs: 25_000,
};

export const FULL: Size = {
  clients: 16,
  window: 64,
  warmupMs: 3000,
  afterMs: 4000,
  faultMs: 8000,
  stallMs: 10_000,
  maxEvents: 200_000,
  drainMs: 60_000,
};

export interface ClientSpec {
  /** 2: two connections on the one stream, on instances 0 and 1 (or both on 0); the second ends
   * when the load stops. */
  connections: 1 | 2;
  /** With two connections: the second on the same instance as the first, or on the next one. */
  secondOn?: 'same' | 'next';
  /** Events per second; 0: as fast as acks come back. */
  ratePerSec: number;
  mute?: boolean;
  expectRefusals?: boolean;
}

export interface FaultContext {
  broker: Broker;
  instances: Instance[];
  proxy?: CuttingProxy;
  size: Size;
  /** Runs `body` (which breaks and repairs the broker), then waits until every instance is ready
   * again; refusals from the start until 2 s after that are explained by the fault. */
  brokerFault: (body: () => Promise<void>) => Promise<void>;
  /** The broker lost its data from `since` until now (see Judgement.loss). */
  dataLost: (since: number) => void;
}

export interface Fault {
  name: string;
  /** Service settings on top of the broker's. */
  env?: Record<string, string>;
  instances?: number;
  /** Clients reach instance 0 through the cutting proxy. */
  proxy?: boolean;
  /** The fault's own clients, besides `size.clients` unpaced well-behaved ones. */
  extraClients?: ClientSpec[];
  /** Pace for the well-behaved clients (0: unpaced). */
  ratePerSec?: number;
  /**
   * After the drain, wait this long (past the duplicate window), then resend every event of every
   * stream on a fresh connection to the next instance; each must be answered `duplicate`, and the
   * log is read only after that.
   */
  replayAfterMs?: number;
  inject(ctx: FaultContext): Promise<void>;
}

export const FAULTS: Fault[] = [
  {
    name: 'kill -9 of an instance, then restart',
    async inject({ instances }) {
      await instances[0].kill('SIGKILL', 30_000);
      await sleep(300);
      await instances[0].restart();
    },
  },
  {
    name: 'SIGTERM under load, then restart',
    async inject({ instances }) {
      await instances[0].kill('SIGTERM', 30_000);
      await instances[0].restart();
    },
  },
  {
    name: 'broker restarted with its data (kill -9)',
    async inject({ broker, brokerFault }) {
      await brokerFault(async () => {
        await broker.restart({ keepData: true, signal: 'SIGKILL' });
      });
    },
  },
  {
    name: 'broker restarted empty (check: no id reused, nothing after lost)',
    // Connections are cut around the restart too, so clients resume against the empty broker: a
    // loaded machine does that by itself (silent connections given up), and it needs checking.
    proxy: true,
    async inject({ broker, brokerFault, dataLost, proxy }) {
      proxy!.startCutting(100, 300);
      await brokerFault(async () => {
        const { goneAt } = await broker.restart({ keepData: false, signal: 'SIGKILL' });
        dataLost(goneAt);
      });
      await sleep(1500);
      proxy!.stopCutting();
    },
  },
  {
    name: 'broker stalled (SIGSTOP, SIGCONT)',
    async inject({ broker, brokerFault, size }) {
      await brokerFault(async () => {
        broker.pause();
        await sleep(size.stallMs);
        broker.resume();
      });
    },
  },
  {
    name: 'connections severed at random',
    proxy: true,
    async inject({ proxy, size }) {
      proxy!.startCutting(30, 150);
      await sleep(size.faultMs);
      proxy!.stopCutting();
    },
  },
  {
    name: 'two connections on one stream, one instance',
    extraClients: [
      { connections: 2, secondOn: 'same', ratePerSec: 0 },
      { connections: 2, secondOn: 'same', ratePerSec: 0 },
    ],
    async inject({ size }) {
      await sleep(size.faultMs);
    },
  },
  {
    name: 'two connections on one stream, two instances',
    instances: 2,
    extraClients: [
      { connections: 2, secondOn: 'next', ratePerSec: 0 },
      { connections: 2, secondOn: 'next', ratePerSec: 0 },
    ],
    async inject({ size }) {
      await sleep(size.faultMs);
    },
  },
  {
    name: 'rate-limit close (1008)',
    env: { RATE_LIMIT_PER_CONNECTION: '60', RATE_LIMIT_BURST: '30', RATE_LIMIT_CLOSE_AFTER_MS: '300' },
    ratePerSec: 25,
    extraClients: [
      { connections: 1, ratePerSec: 0, expectRefusals: true },
      { connections: 1, ratePerSec: 0, expectRefusals: true },
    ],
    async inject({ size }) {
      await sleep(size.faultMs);
    },
  },
  {
    name: 'heartbeat terminate (clients stop answering pings)',
    env: { HEARTBEAT_INTERVAL_MS: '250' },
    extraClients: [
      { connections: 1, ratePerSec: 0, mute: true },
      { connections: 1, ratePerSec: 0, mute: true },
    ],
    async inject({ size }) {
      await sleep(size.faultMs);
    },
  },
  {
    name: 'WORKERS=2, one worker killed -9',
    env: { WORKERS: '2' },
    extraClients: [{ connections: 2, secondOn: 'same', ratePerSec: 0 }],
    async inject({ instances }) {
      process.kill(await instances[0].busiestWorker(), 'SIGKILL');
      await sleep(1500);
      await instances[0].waitReady();
    },
  },
  {
    name: 'id slot records rolled back (a replica promoted), a slot taken over',
    instances: 2,
    async inject({ broker, brokerFault, instances }) {
      const prefix = broker.serviceEnv().REDIS_PREFIX ?? '';
      const admin = new Redis(broker.serviceEnv().REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        await brokerFault(async () => {
          // Instance 1 stops renewing: its record is the one whose TTL runs down.
          process.kill(instances[1].pid!, 'SIGSTOP');
          await sleep(700);
          const keys = await admin.keys(`${prefix}id_slot:*`);
          const ttls = await Promise.all(keys.map((key) => admin.pttl(key)));
          const taken = keys[ttls.indexOf(Math.min(...ttls))];
          // Rolled back to before any lease; every slot but instance 1's held, so the restarted
          // instance 0 takes instance 1's slot while instance 1 still thinks it holds it.
          await admin.del(...keys);
          const fillers = Array.from({ length: 8 }, (_, n) => `${prefix}id_slot:${n}`).filter(
            (k) => k !== taken,
          );
          for (const key of fillers) await admin.set(key, 'filler', 'PX', 60_000);
          await instances[0].kill('SIGKILL', 30_000);
          const restarting = instances[0].restart();
          while ((await admin.get(taken)) === null) await sleep(50);
          await admin.del(...fillers);
          process.kill(instances[1].pid!, 'SIGCONT');
          await restarting;
          // Instance 1 finds its slot taken and takes another (readiness is 503 until it may).
          await sleep(800);
        });
      } finally {
        admin.disconnect();
      }
    },
  },
  {
    name: 'Redis outage x 10 (ids stay within the headroom)',
    async inject({ broker, brokerFault }) {
      for (let i = 0; i < 10; i++) {
        await brokerFault(async () => {
          await broker.restart({ keepData: true, signal: 'SIGKILL' });
        });
        await sleep(200);
      }
    },
  },
];
