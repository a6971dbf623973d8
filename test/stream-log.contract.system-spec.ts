// The log port's contract, one case list (test/support/log-contract.ts) run against every engine:
// MemoryLog, the Redis adapter on a private redis-server and the JetStream adapter on a private
// nats-server -js. Each case compares the outcomes and last seqs with the list, then reads the
// engine's log itself. Then faults (a store failing mid-batch, an unreadable stream state), and the
// ack queue's random schedules in front of each engine, its log read back at the end of each.
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { parseEnv } from '../src/config/env.js';
import type { RedisService } from '../src/redis/redis.service.js';
import { DUPLICATE, type StreamLog, FAILED, type SinkEntry } from '../src/sink/stream-log.js';
import { MemoryLog } from '../src/sink/memory/memory-log.js';
import { NatsClient } from '../src/sink/nats/connection.js';
import { NatsSink } from '../src/sink/nats/log.js';
import { RedisStreamSink } from '../src/sink/redis/redis-log.js';
import { MemoryStreamState } from '../src/stream/stream-state.js';
import {
  CONTRACT_MAX_GAP,
  LOG_CASES,
  caseEntry,
  checkLog,
  expected,
  runCase,
  runSchedule,
  schedule,
} from './support/log-contract.js';
import { NatsServer } from '../harness/nats-server.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { until } from '../harness/wait.mjs';
import { describeWithNats } from './support/nats.js';
import { describeWithRedis } from './support/redis.js';
import { fakeLogger, fakeMetrics } from './support/sink-queue.js';

interface Engine {
  log: StreamLog;
  /** The data of every entry its log holds (both logs: events and quarantine); none for memory. */
  logged?: () => Promise<string[]>;
  /** Per stream, the seqs its log holds, in log order. */
  seqs?: (streams: string[]) => Promise<Map<string, number[]>>;
  /** JetStream: a publish may be stored and then failed (its PubAck lost, or `after` checked late). */
  failedMayBeStored: boolean;
  /** Makes storing this entry fail, on its own (the engine's own failure, injected). */
  breakStore?: (entry: SinkEntry) => Promise<void>;
  /** Makes a stream's seq state unreadable. */
  breakState?: (stream: string) => Promise<void>;
  close: () => Promise<void>;
}

/** How many random schedules per engine: the brokers answer each batch over a socket. */
const SCHEDULES = { memory: 200, redis: 100, nats: 40 };

/** Which faults an engine can be given (memory: none, nothing there can fail). */
interface Faults {
  store: boolean;
  state: boolean;
}

function contract(
  name: keyof typeof SCHEDULES,
  wrap: (name: string, body: () => void) => void,
  faults: Faults,
  start: () => Promise<Engine>,
) {
  wrap(`The log contract: ${name} (system)`, () => {
    let engine: Engine;
    let runs = 0;
    const prefix = () => `${name}${runs++}:`;

    beforeAll(async () => {
      engine = await start();
    }, 60_000);
    afterAll(async () => {
      await engine?.close();
    });

    it.each(LOG_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const sent: { entry: SinkEntry; outcome: number }[] = [];
      expect(await runCase(engine.log, c, prefix(), true, sent)).toEqual(expected(c));
      if (engine.logged !== undefined) checkLog(await engine.logged(), sent, engine.failedMayBeStored);
    });

    const storeFault = faults.store ? it : it.skip;
    const stateFault = faults.state ? it : it.skip;

    storeFault(
      'a store failing mid-batch fails every later entry of its stream in the batch; a resend is stored',
      async () => {
        const p = prefix();
        const entries = [
          caseEntry(p, ['a', 1]),
          caseEntry(p, ['a', 2]),
          caseEntry(p, ['a', 3]),
          caseEntry(p, ['b', 1]),
        ];
        await engine.breakStore!(entries[1]);
        const outcomes = await engine.log.append(entries, true);
        expect(outcomes.slice(0, 3)).toEqual([0, FAILED, FAILED]);
        // Another stream's entry: stored, or failed with the rest (an engine may fail the whole batch).
        expect([0, FAILED]).toContain(outcomes[3]);
        await until(() => engine.log.ready, Boolean);
        const resent = [caseEntry(p, ['a', 2]), caseEntry(p, ['a', 3]), caseEntry(p, ['a', 1])];
        expect(await engine.log.append(resent, true)).toEqual([1, 2, DUPLICATE]);
        expect(await engine.log.lastSeq(`${p}a`)).toBe(3);
        const sent = [...entries, ...resent].map((entry, i) => ({
          entry,
          outcome: [...outcomes, 1, 2, DUPLICATE][i],
        }));
        checkLog(await engine.logged!(), sent, engine.failedMayBeStored);
      },
    );

    stateFault('an unreadable stream state fails every entry of that stream, and only of it', async () => {
      const p = prefix();
      await engine.breakState!(`${p}a`);
      const entries = [caseEntry(p, ['a', 1]), caseEntry(p, ['b', 1]), caseEntry(p, ['a', 2])];
      const outcomes = await engine.log.append(entries, true);
      expect(outcomes).toEqual([FAILED, 0, FAILED]);
      checkLog(
        await engine.logged!(),
        entries.map((entry, i) => ({ entry, outcome: outcomes[i] })),
        engine.failedMayBeStored,
      );
    });

    it('random schedules of the ack queue in front of it: no hole, no duplicate, every ack in the log', async () => {
      await fc.assert(
        fc.asyncProperty(...schedule, async (pipeline, steps, share) => {
          await runSchedule(engine.log, prefix(), pipeline, steps, share, {
            readLog: engine.seqs,
            failedMayBeStored: engine.failedMayBeStored,
          });
        }),
        { numRuns: SCHEDULES[name] },
      );
    }, 600_000);
  });
}

contract('memory', describe, { store: false, state: false }, () =>
  Promise.resolve({
    log: new MemoryLog(new MemoryStreamState(100_000, 3600_000), CONTRACT_MAX_GAP),
    failedMayBeStored: false,
    close: () => Promise.resolve(),
  }),
);

contract('redis', describeWithRedis, { store: true, state: true }, async () => {
  const server = await RedisServer.start();
  const client = new Redis(server.url);
  const service = { sink: client, key: (name: string) => `t:${name}` } as unknown as RedisService;
  // With the subject index on (erasure), so a store can be made to fail on one entry.
  const log = new RedisStreamSink(service, 3600, CONTRACT_MAX_GAP, '', 't:idx:');
  const fields = async (key: string) => (await client.xrange(key, '-', '+')).map(([, f]) => f);
  const field = (f: string[], name: string) => f[f.indexOf(name) + 1];
  return {
    log,
    failedMayBeStored: false,
    logged: async () =>
      [...(await fields('t:stream')), ...(await fields('t:quarantine'))].map((f) => field(f, 'data')),
    seqs: async (streams) => {
      const out = new Map<string, number[]>(streams.map((s) => [s, []]));
      for (const f of await fields('t:stream')) out.get(field(f, 'stream'))?.push(Number(field(f, 'seq')));
      return out;
    },
    // The entry's subject index is not a list: its RPUSH fails, and the script takes the XADD back.
    breakStore: async (entry) => {
      entry.subject = `${entry.stream}-subject`;
      await client.set(`t:idx:ids:${entry.subject}`, 'not a list');
    },
    // The state key is not a string: its GET fails.
    breakState: async (stream) => {
      await client.rpush(`t:seq:${stream}`, 'not a seq');
    },
    close: async () => {
      client.disconnect();
      await server.stop();
    },
  };
});

contract('nats', describeWithNats, { store: true, state: false }, async () => {
  const server = await NatsServer.start();
  const cfg = parseEnv({
    SINK: 'nats',
    NATS_URL: server.url,
    NATS_STREAM: 'CONTRACT',
    NATS_SUBJECT: 'contract.events',
    MAX_SEQ_GAP: String(CONTRACT_MAX_GAP),
    // The quarantine subject is part of the stream only with schemas.
    EVENT_SCHEMAS_DIR: 'test/fixtures',
  });
  const client = new NatsClient(cfg, fakeLogger);
  const log = new NatsSink(cfg, fakeMetrics, fakeLogger, client);
  await log.onModuleInit();
  const { jsm } = log.manager!;
  const messages = async () => {
    const { state } = await jsm.streams.info('CONTRACT');
    const out = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('CONTRACT', { seq });
      if (m !== null) out.push(m);
    }
    return out;
  };
  // Only the messages stored since the last read: the stream grows with every run.
  let readUpTo = 0;
  return {
    log,
    failedMayBeStored: true,
    logged: async () => (await messages()).map((m) => m.string()),
    seqs: async (streams) => {
      const out = new Map<string, number[]>(streams.map((s) => [s, []]));
      const { state } = await jsm.streams.info('CONTRACT');
      for (let seq = Math.max(readUpTo + 1, state.first_seq); seq <= state.last_seq; seq++) {
        const m = await jsm.streams.getMessage('CONTRACT', { seq });
        if (m !== null) out.get(m.header.get('stream'))?.push(Number(m.header.get('seq')));
      }
      readUpTo = state.last_seq;
      return out;
    },
    // Above the server's max_payload (1 MiB): this one publish fails, and the sink answers
    // "Service unavailable" for the rest of its batch until it finds the stream again.
    breakStore: (entry) => {
      entry.data = `{"pad":"${'x'.repeat(1024 * 1024)}"}`;
      return Promise.resolve();
    },
    close: async () => {
      log.onApplicationShutdown();
      await client.onApplicationShutdown();
      await server.dispose();
    },
  };
});
