// Erasure by subject, e2e on both engines: DELETE /admin/subjects/{sub}/events with the admin
// token removes every entry of the subject (its stream and its "sub:" streams) from the log, and
// its stream states, and nothing else: one subject's 1,000 events among 100,000, read back from
// the log itself before and after. The request goes to another instance than the one that stored
// the events. A wrong or missing token changes nothing; without ADMIN_TOKEN the route does not
// exist. Under live traffic from the subject every entry is either erased or kept whole and erasable.
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { type RunningApp, startApp } from './support/app.js';
import { NatsServer, NATS_SERVER } from '../harness/nats-server.mjs';
import type { Instance } from '../harness/instance.mjs';
import { sendStream, startInstance } from './support/privacy.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { ResumableClient } from './support/resumable-client.js';
import { WsClient } from '../harness/ws-client.mjs';

const ADMIN_TOKEN = 'admin-token-for-the-erasure-tests-0123456789';
const OTHERS = 9;
const PER_OTHER = 11_000;
const SUBJECT_EVENTS = 1_000;

/** One stored entry as the tests compare it: its stream, seq and data. */
interface Entry {
  stream: string;
  seq: string;
  data: string;
  message_id: string;
}

const key = (e: Entry) => `${e.stream}#${e.seq}`;

async function erase(instance: { http(path: string): string }, subject: string, token?: string) {
  const res = await fetch(instance.http(`/admin/subjects/${encodeURIComponent(subject)}/events`), {
    method: 'DELETE',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * The data set: "alice" 600 events and "alice:tab2" 400 (the subject's 1,000), "alicex" 500 (a
 * prefix that is not the subject), and 9 other streams of 11,000, sent through both instances.
 */
async function fill(a: Instance, b: Instance): Promise<void> {
  const payload = (seq: number) => ({ event_type: 'tap', n: seq });
  await Promise.all([
    sendStream(a.ws('/ws/behaviour?stream=alice'), 600, payload),
    sendStream(b.ws('/ws/behaviour?stream=alice:tab2'), 400, payload),
    sendStream(a.ws('/ws/behaviour?stream=alicex'), 500, payload),
    ...Array.from({ length: OTHERS }, (_, i) =>
      sendStream((i % 2 === 0 ? a : b).ws(`/ws/behaviour?stream=other${i}`), PER_OTHER, payload),
    ),
  ]);
}

const isAlice = (e: Entry) => e.stream === 'alice' || e.stream.startsWith('alice:');
const TOTAL = SUBJECT_EVENTS + 500 + OTHERS * PER_OTHER;

/** Every entry of the Redis Stream, read in pages. */
async function readRedis(redis: Redis, stream: string): Promise<Entry[]> {
  const out: Entry[] = [];
  let from = '-';
  for (;;) {
    const page = await redis.xrange(stream, from, '+', 'COUNT', 10_000);
    for (const [, f] of page) {
      const fields: Record<string, string> = {};
      for (let i = 0; i < f.length; i += 2) fields[f[i]] = f[i + 1];
      out.push(fields as unknown as Entry);
    }
    if (page.length < 10_000) return out;
    from = `(${page[page.length - 1][0]}`;
  }
}

/** Every message of the JetStream stream, through an ordered consumer (the log itself). */
async function readNats(url: string): Promise<Entry[]> {
  const nc = await connect({ servers: url });
  try {
    const js = jetstream(nc);
    const jsm = await js.jetstreamManager();
    const total = (await jsm.streams.info('CBSA')).state.messages;
    const out: Entry[] = [];
    if (total === 0) return out;
    const consumer = await js.consumers.get('CBSA');
    const messages = await consumer.consume({ max_messages: 5000 });
    for await (const m of messages) {
      const h = m.headers!;
      out.push({
        stream: h.get('stream'),
        seq: h.get('seq'),
        data: m.string(),
        message_id: h.get('message_id'),
      });
      if (out.length === total) break;
    }
    await messages.close();
    return out;
  } finally {
    await nc.close();
  }
}

/**
 * A resumable producer that keeps sending on `stream` (resending what is refused, as clients must)
 * until stopped; resolves with how many events were acked "received".
 */
const producers: ResumableClient[] = [];

function liveTraffic(base: string, stream: string) {
  const producer = new ResumableClient(
    () => base,
    stream,
    10_000_000,
    32,
    (seq) => ({ event_type: 'tap', n: seq }),
  );
  const running = producer.run(120_000);
  // A test that fails before stop() must not leave the producer's rejection to a later suite.
  running.catch(() => undefined);
  producers.push(producer);
  return {
    stop: async () => {
      producer.stop();
      await running;
      return producer.received.length;
    },
  };
}

function expectWhole(entries: Entry[]): void {
  for (const e of entries) {
    expect(JSON.parse(e.data)).toEqual({ seq: Number(e.seq), event_type: 'tap', n: Number(e.seq) });
    expect(Number(e.message_id)).toBeGreaterThan(0);
  }
}

const RECEIPT = (subject: string, deleted: number) => ({
  subject,
  deleted,
  receipt_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
  completed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
});

describeWithRedis('Erasure by subject (e2e)', () => {
  let redis: RedisServer;
  let client: Redis;
  const instances: Instance[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url);
  }, 30_000);
  afterEach(() => {
    producers.splice(0).forEach((p) => p.stop());
    return Promise.all(instances.splice(0).map((i) => i.stop()));
  });
  afterAll(async () => {
    await client.quit();
    await redis.stop();
  });

  it('has no admin route without ADMIN_TOKEN', async () => {
    const running: RunningApp = await startApp({});
    try {
      expect((await erase({ http: (p) => `${running.http}${p}` }, 'alice', ADMIN_TOKEN)).status).toBe(404);
    } finally {
      await running.close();
    }
  });

  it('refuses an ADMIN_TOKEN shorter than 32 characters', async () => {
    await expect(startApp({ ADMIN_TOKEN: 'short-admin-token-0123456789' })).rejects.toThrow(/ADMIN_TOKEN/);
  });

  it("Redis: erases one subject's 1,000 events among 100,000 and nothing else, from another instance", async () => {
    const prefix = 'er1:';
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, SINK: 'redis-stream', ADMIN_TOKEN };
    const [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    instances.push(a, b);
    await fill(a, b);
    const before = await readRedis(client, `${prefix}stream`);
    expect(before.length).toBe(TOTAL);
    expect(before.filter(isAlice).length).toBe(SUBJECT_EVENTS);
    // The attacker: no token, a wrong one, the right one in the wrong scheme. Nothing changes.
    for (const token of [undefined, 'x'.repeat(ADMIN_TOKEN.length), ADMIN_TOKEN.slice(1)]) {
      expect(await erase(b, 'alice', token)).toEqual({ status: 401, body: { error: 'Unauthorized' } });
    }
    expect(await client.xlen(`${prefix}stream`)).toBe(TOTAL);
    expect(await client.get(`${prefix}seq:alice`)).toBe('600');

    const { status, body } = await erase(b, 'alice', ADMIN_TOKEN);
    expect({ status, body }).toEqual({ status: 200, body: RECEIPT('alice', SUBJECT_EVENTS) });
    const after = await readRedis(client, `${prefix}stream`);
    expect(after.filter(isAlice)).toEqual([]);
    expect(after.map(key)).toEqual(before.filter((e) => !isAlice(e)).map(key));
    expect(after).toEqual(before.filter((e) => !isAlice(e)));
    // Stream states: the subject's are gone, the look-alike's stays.
    expect(await client.mget(`${prefix}seq:alice`, `${prefix}seq:alice:tab2`, `${prefix}seq:alicex`)).toEqual(
      [null, null, '500'],
    );
    // The receipt, for downstream consumers: no event data.
    const receipts = await client.xrange(`${prefix}erasures`, '-', '+');
    expect(receipts.map(([, f]) => f)).toEqual([
      [
        'subject',
        'alice',
        'deleted',
        '1000',
        'receipt_id',
        body.receipt_id,
        'completed_at',
        body.completed_at,
      ],
    ]);
    // A resumable client of the erased stream starts afresh.
    const resume = await WsClient.open(a.ws('/ws/behaviour?stream=alice'));
    expect(await resume.nextJson()).toEqual({ type: 'resume', stream: 'alice', last_seq: 0 });
    resume.close();
  }, 180_000);

  it('Redis: under live traffic from the subject, each entry is erased or kept whole and erasable', async () => {
    const prefix = 'er2:';
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, SINK: 'redis-stream', ADMIN_TOKEN };
    const a = await startInstance(env);
    instances.push(a);
    const traffic = liveTraffic(a.ws('/ws/behaviour'), 'bob:live');
    await new Promise((r) => setTimeout(r, 500));
    const first = await erase(a, 'bob', ADMIN_TOKEN);
    expect(first.status).toBe(200);
    expect(first.body.deleted).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    const acked = await traffic.stop();
    const kept = (await readRedis(client, `${prefix}stream`)).filter((e) => e.stream === 'bob:live');
    // Nothing acked is lost but by the erasure, and what is kept is whole, once per seq.
    expect(kept.length + (first.body.deleted as number)).toBeGreaterThanOrEqual(acked);
    expect(new Set(kept.map(key)).size).toBe(kept.length);
    expect(kept.length).toBeGreaterThan(0);
    expectWhole(kept);
    // Every kept entry is indexed: a second erasure takes exactly those.
    expect((await erase(a, 'bob', ADMIN_TOKEN)).body.deleted).toBe(kept.length);
    expect(await client.xlen(`${prefix}stream`)).toBe(0);
  }, 60_000);

  (NATS_SERVER === undefined ? describe.skip : describe)('NATS', () => {
    let nats: NatsServer;
    beforeEach(async () => {
      nats = await NatsServer.start();
    });
    afterEach(async () => {
      await Promise.all(instances.splice(0).map((i) => i.stop()));
      await nats.dispose();
    });

    it("erases one subject's 1,000 events among 100,000 and nothing else, from another instance", async () => {
      const env = {
        SINK: 'nats',
        NATS_URL: nats.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'er3:',
        ADMIN_TOKEN,
      };
      const [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
      instances.push(a, b);
      await fill(a, b);
      const before = await readNats(nats.url);
      expect(before.length).toBe(TOTAL);
      expect(await erase(b, 'alice', 'y'.repeat(ADMIN_TOKEN.length))).toEqual({
        status: 401,
        body: { error: 'Unauthorized' },
      });
      expect((await readNats(nats.url)).length).toBe(TOTAL);
      const { status, body } = await erase(b, 'alice', ADMIN_TOKEN);
      expect({ status, body }).toEqual({ status: 200, body: RECEIPT('alice', SUBJECT_EVENTS) });
      const after = await readNats(nats.url);
      expect(after.filter(isAlice)).toEqual([]);
      const sortKey = (entries: Entry[]) => entries.map((e) => `${key(e)}|${e.message_id}|${e.data}`).sort();
      expect(sortKey(after)).toEqual(sortKey(before.filter((e) => !isAlice(e))));
      // The receipt is kept on cbsa.erasures, and the subject's streams start afresh.
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstream(nc).jetstreamManager();
      const receipt = await jsm.streams.getMessage('CBSA_ERASURES', { last_by_subj: 'cbsa.erasures' });
      expect(receipt!.json()).toEqual(body);
      await nc.close();
      const resume = await WsClient.open(a.ws('/ws/behaviour?stream=alice:tab2'));
      expect(await resume.nextJson()).toEqual({ type: 'resume', stream: 'alice:tab2', last_seq: 0 });
      resume.close();
      const kept = await WsClient.open(a.ws('/ws/behaviour?stream=alicex'));
      expect(await kept.nextJson()).toEqual({ type: 'resume', stream: 'alicex', last_seq: 500 });
      kept.close();
    }, 240_000);

    it('under live traffic from the subject, each entry is erased or kept whole and erasable', async () => {
      const env = { SINK: 'nats', NATS_URL: nats.url, ADMIN_TOKEN };
      const a = await startInstance(env);
      instances.push(a);
      const traffic = liveTraffic(a.ws('/ws/behaviour'), 'bob:live');
      await new Promise((r) => setTimeout(r, 500));
      const first = await erase(a, 'bob', ADMIN_TOKEN);
      expect(first.status).toBe(200);
      expect(first.body.deleted).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      const acked = await traffic.stop();
      const kept = await readNats(nats.url);
      expect(kept.length + (first.body.deleted as number)).toBeGreaterThanOrEqual(acked);
      expect(new Set(kept.map(key)).size).toBe(kept.length);
      expect(kept.length).toBeGreaterThan(0);
      expectWhole(kept);
      expect((await erase(a, 'bob', ADMIN_TOKEN)).body.deleted).toBe(kept.length);
      expect(await readNats(nats.url)).toEqual([]);
    }, 60_000);
  });
});
