// Evidence integrity in SINK=redis-stream mode: every fault is injected against production builds
// with a private redis-server, then the log itself is read back (XRANGE) and checked: at most one
// entry per (stream, seq), every "received" ack in the log, every "duplicate" backed by an entry,
// no message id twice, and no refusal while Redis is healthy.
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { ResumableClient } from './support/resumable-client.js';
import { Instance } from '../harness/instance.mjs';
import { WsClient } from '../harness/ws-client.mjs';
import { sleep, waitFor } from '../harness/wait.mjs';

/** The machine running npm test may be busy: each fault test gets room. */
const TEST_TIMEOUT_MS = 240_000;

interface Entry {
  id: string;
  fields: Record<string, string>;
}

async function readLog(redisUrl: string, prefix: string): Promise<Entry[]> {
  const redis = new Redis(redisUrl);
  try {
    const raw = await redis.xrange(`${prefix}stream`, '-', '+');
    return raw.map(([id, list]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < list.length; i += 2) fields[list[i]] = list[i + 1];
      return { id, fields };
    });
  } finally {
    redis.disconnect();
  }
}

interface Audit {
  entries: number;
  duplicatedInLog: number;
  ackedButMissing: number;
  duplicateWithoutEntry: number;
  idsReused: number;
  outOfOrder: number;
}

/** Compares what the clients were told with what the log holds. */
function audit(clients: ResumableClient[], log: Entry[]): Audit {
  const seen = new Set<string>();
  const ids = new Set<string>();
  let duplicatedInLog = 0;
  let idsReused = 0;
  const byKey = new Map<string, Entry>();
  for (const entry of log) {
    const key = `${entry.fields.stream}\u0000${entry.fields.seq}`;
    if (entry.fields.stream !== '' && seen.has(key)) duplicatedInLog++;
    seen.add(key);
    byKey.set(key, entry);
    if (ids.has(entry.fields.message_id)) idsReused++;
    ids.add(entry.fields.message_id);
  }
  let ackedButMissing = 0;
  let duplicateWithoutEntry = 0;
  for (const client of clients) {
    for (const reply of client.received) {
      const entry = byKey.get(`${client.stream}\u0000${reply.seq}`);
      if (entry === undefined || entry.fields.message_id !== String(reply.message_id)) ackedButMissing++;
    }
    for (const seq of client.duplicates)
      if (!byKey.has(`${client.stream}\u0000${seq}`)) duplicateWithoutEntry++;
  }
  return {
    entries: log.length,
    duplicatedInLog,
    ackedButMissing,
    duplicateWithoutEntry,
    idsReused,
    outOfOrder: clients.reduce((n, c) => n + c.outOfOrder, 0),
  };
}

/**
 * Entries stored after a lower seq of their stream was left out: per stream, the log (in append
 * order) must read 1, 2, 3, ... for clients that never skip a seq (one client per stream).
 */
function holes(log: Entry[]): string[] {
  const next = new Map<string, number>();
  const found: string[] = [];
  for (const { fields } of log) {
    const expected = next.get(fields.stream) ?? 1;
    if (fields.seq !== String(expected))
      found.push(`${fields.stream}: ${fields.seq} where ${expected} was due`);
    next.set(fields.stream, Math.max(expected, Number(fields.seq) + 1));
  }
  return found;
}

const clean = (entries: number): Audit => ({
  entries,
  duplicatedInLog: 0,
  ackedButMissing: 0,
  duplicateWithoutEntry: 0,
  idsReused: 0,
  outOfOrder: 0,
});

/** A SINK=redis-stream instance. The machine may be busy: give the production build time to boot. */
function startInstance(env: Record<string, string>): Promise<Instance> {
  return Instance.start({ SINK: 'redis-stream', ...env }, { timeout: 90_000 });
}

/**
 * Sends seqs 1..count of `stream` again (the payload ResumableClient sends), whatever the resume
 * frame says; returns the seqs answered duplicate, in order.
 */
async function resendStored(url: string, stream: string, count: number): Promise<number[]> {
  const client = await WsClient.open(`${url}?stream=${encodeURIComponent(stream)}`);
  expect(await client.nextJson()).toMatchObject({ type: 'resume' });
  for (let seq = 1; seq <= count; seq++) client.send(JSON.stringify({ seq, event_type: 'tap', n: seq }));
  const duplicates: number[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const reply = await client.nextJson<{ status: string; seq: number }>();
    if (reply.status === 'duplicate') duplicates.push(reply.seq);
  }
  client.close();
  return duplicates;
}

function clients(instance: Instance, prefix: string, count: number, events: number, window = 8) {
  return Array.from(
    { length: count },
    (_, i) => new ResumableClient(() => instance.ws(), `${prefix}:${i}`, events, window),
  );
}

describeWithRedis('Evidence integrity, SINK=redis-stream (e2e)', () => {
  let redis: RedisServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cbsa-integrity-'));
    redis = await RedisServer.start({ dataDir });
  });
  afterAll(async () => {
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'stores every event once, with stream and seq, through severed connections and a second connection per stream',
    async () => {
      const prefix = 'sever:';
      const instance = await startInstance({ REDIS_URL: redis.url, REDIS_PREFIX: prefix });
      const producers = clients(instance, 'sev', 4, 200);
      // Two connections on one stream at once: the twin sends the same seqs with the same data.
      producers.push(new ResumableClient(() => instance.ws(), 'sev:0', 200));
      const severing = setInterval(() => producers[Math.floor(Math.random() * producers.length)].sever(), 60);
      await Promise.all(producers.map((p) => p.run(100_000)));
      clearInterval(severing);
      // Duplicates forced: each stream's first 50 events sent again, as a client that lost its
      // acks would. Every one must be answered duplicate, backed by its entry, and not stored again.
      const resent = await Promise.all(
        producers.slice(0, 4).map((p) => resendStored(instance.ws(), p.stream, 50)),
      );
      expect(resent.map((seqs) => seqs.length)).toEqual([50, 50, 50, 50]);
      resent.forEach((seqs, i) => producers[i].duplicates.push(...seqs));
      const log = await readLog(redis.url, prefix);
      expect(producers.reduce((n, p) => n + p.duplicates.length, 0)).toBeGreaterThanOrEqual(200);
      expect(audit(producers, log)).toEqual(clean(4 * 200));
      expect(producers.flatMap((p) => p.refusals)).toEqual([]);
      const first = log.find((e) => e.fields.stream === 'sev:1' && e.fields.seq === '1')!;
      expect(first.fields).toEqual({
        message_id: expect.stringMatching(/^\d+$/) as unknown,
        client_id: expect.stringMatching(/^[A-Za-z0-9_-]{8}$/) as unknown,
        server_timestamp: expect.stringMatching(/^\d+\.\d{3}$/) as unknown,
        category: 'touch',
        stream: 'sev:1',
        seq: '1',
        // Provenance: empty under static tokens (JWT mode: the token's sub and kid).
        sub: '',
        kid: '',
        data: '{"seq":1,"event_type":"tap","n":1}',
      });
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps every guarantee through kill -9 mid-load and a restart',
    async () => {
      const prefix = 'kill:';
      const instance = await startInstance({ REDIS_URL: redis.url, REDIS_PREFIX: prefix });
      const producers = clients(instance, 'kill', 4, 600, 16);
      const running = Promise.all(producers.map((p) => p.run(100_000)));
      await waitFor(() => producers.every((p) => p.acked.size > 50), 15_000);
      await instance.kill();
      await instance.restart();
      await running;
      expect(audit(producers, await readLog(redis.url, prefix))).toEqual(clean(4 * 600));
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps every guarantee through SIGTERM under load: acks written before 1001, nothing refused',
    async () => {
      const prefix = 'term:';
      const instance = await startInstance({ REDIS_URL: redis.url, REDIS_PREFIX: prefix });
      const producers = clients(instance, 'term', 4, 600, 16);
      const running = Promise.all(producers.map((p) => p.run(100_000)));
      await waitFor(() => producers.every((p) => p.acked.size > 50), 15_000);
      await instance.stop();
      expect(await instance.service.exited).toBe(0);
      await instance.restart();
      await running;
      expect(audit(producers, await readLog(redis.url, prefix))).toEqual(clean(4 * 600));
      expect(producers.flatMap((p) => p.refusals)).toEqual([]);
      expect(producers.flatMap((p) => p.closes)).toContain(1001);
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps every guarantee through a Redis restart with its data (AOF), and never reuses an id',
    async () => {
      const prefix = 'aof:';
      const instance = await startInstance({ REDIS_URL: redis.url, REDIS_PREFIX: prefix });
      const producers = clients(instance, 'aof', 4, 600, 16);
      const running = Promise.all(producers.map((p) => p.run(100_000)));
      await waitFor(() => producers.every((p) => p.acked.size > 50), 15_000);
      await redis.stop();
      await sleep(300);
      await redis.restart();
      await running;
      const log = await readLog(redis.url, prefix);
      expect(audit(producers, log)).toEqual(clean(4 * 600));
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps every guarantee through a 3 s Redis stall (SIGSTOP): readiness 503, then recovers by itself',
    async () => {
      const prefix = 'stall:';
      const instance = await startInstance({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        REDIS_COMMAND_TIMEOUT_MS: '500',
        SINK_READY_MAX_AGE_MS: '300',
      });
      const producers = clients(instance, 'stall', 4, 600, 16);
      const running = Promise.all(producers.map((p) => p.run(100_000)));
      await waitFor(() => producers.every((p) => p.acked.size > 50), 15_000);
      redis.pause();
      try {
        await waitFor(async () => (await instance.readyStatus()) === 503, 5000);
        await sleep(2500);
      } finally {
        redis.resume();
      }
      await waitFor(async () => (await instance.readyStatus()) === 200, 10_000);
      await running;
      expect(audit(producers, await readLog(redis.url, prefix))).toEqual(clean(4 * 600));
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'with batches in flight, an earlier batch that fails in Redis (OOM) is never overtaken by a later one',
    async () => {
      const prefix = 'pipeline:';
      const instance = await startInstance({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        SINK_PIPELINE: '4',
        // Ids stay leased through the OOM windows: only the appends fail.
        ID_BLOCK_SIZE: '100000',
      });
      const producers = clients(instance, 'pipe', 6, 800, 32);
      const running = Promise.all(producers.map((p) => p.run(150_000)));
      await waitFor(() => producers.every((p) => p.acked.size > 50), 15_000);
      // Short OOM windows at random moments: the batches Redis runs inside one fail (every XADD is
      // refused), and those already sent behind them run after it, with the memory back.
      const admin = new Redis(redis.url);
      try {
        for (let i = 0; i < 60 && !producers.every((p) => p.done); i++) {
          await admin.config('SET', 'maxmemory', '1');
          await sleep(1 + Math.random() * 4);
          await admin.config('SET', 'maxmemory', '0');
          await sleep(10 + Math.random() * 20);
        }
      } finally {
        await admin.config('SET', 'maxmemory', '0');
        admin.disconnect();
      }
      await running;
      const log = await readLog(redis.url, prefix);
      expect(audit(producers, log)).toEqual(clean(6 * 800));
      // No seq stored past a refused lower one of its stream.
      expect(holes(log)).toEqual([]);
      // The fault happened: appends were refused, and resent.
      expect(producers.flatMap((p) => p.refusals).length).toBeGreaterThan(0);
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'pauses sockets past SINK_QUEUE_MAX instead of refusing, and stores everything once',
    async () => {
      const prefix = 'bound:';
      const instance = await startInstance({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        SINK_QUEUE_MAX: '20',
        SINK_QUEUE_MAX_BYTES: '4096',
      });
      const producers = clients(instance, 'bound', 10, 150, 32);
      await Promise.all(producers.map((p) => p.run(100_000)));
      expect(audit(producers, await readLog(redis.url, prefix))).toEqual(clean(10 * 150));
      expect(producers.flatMap((p) => p.refusals)).toEqual([]);
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'stops reading a socket once SINK_QUEUE_MAX frames wait (Redis stalled): the queue stays within its bound, then all is stored once',
    async () => {
      const prefix = 'pause:';
      const queueMax = 20;
      const instance = await startInstance({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        SINK_QUEUE_MAX: String(queueMax),
        HEARTBEAT_INTERVAL_MS: '0',
      });
      const depth = async () =>
        Number(
          /^cbsa_sink_queue_depth (\S+)$/m.exec(await (await fetch(instance.http('/metrics'))).text())![1],
        );
      const client = await WsClient.open(instance.ws());
      // 4 KB frames: a read of 64 KiB holds at most 16 of them, all decided before the pause takes hold.
      const frames = 5000;
      const pad = 'p'.repeat(4000);
      redis.pause();
      try {
        for (let i = 0; i < frames; i++) client.send(JSON.stringify({ event_type: 'tap', i, pad }));
        await sleep(1000);
        // Sampled for 1.5 s: appends that time out are answered "Service unavailable", so the
        // queue drains and refills, but never past its bound plus what one read had already taken.
        const samples: number[] = [];
        for (let i = 0; i < 30; i++) {
          samples.push(await depth());
          await sleep(50);
        }
        expect(Math.max(...samples)).toBeGreaterThanOrEqual(queueMax);
        expect(Math.max(...samples)).toBeLessThanOrEqual(queueMax + 16);
        // The socket is not read: the client's frames wait in its own buffer, not in the server.
        expect(client.socket.bufferedAmount).toBeGreaterThan(0);
      } finally {
        redis.resume();
      }
      const received: number[] = [];
      for (let i = 0; i < frames; i++)
        if ((await client.nextJson(30_000)).status === 'received') received.push(i);
      expect(received.length).toBeGreaterThan(0);
      // Every acked frame is stored, and nothing twice ("Service unavailable" ones may be stored too:
      // their append ran once Redis woke up, after the service had stopped waiting for it).
      const stored = (await readLog(redis.url, prefix)).map(
        (e) => (JSON.parse(e.fields.data) as { i: number }).i,
      );
      expect(new Set(stored).size).toBe(stored.length);
      expect(received.filter((i) => !stored.includes(i))).toEqual([]);
      client.close();
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'refuses nothing in the first 1.5 s of a burst of 50 full-speed clients on a fresh instance',
    async () => {
      const prefix = 'burst:';
      const instance = await startInstance({ REDIS_URL: redis.url, REDIS_PREFIX: prefix });
      const sockets = await Promise.all(Array.from({ length: 50 }, () => WsClient.open(instance.ws())));
      const replies = new Map<string, number>();
      const frame = '{"event_type":"tap","user_id":"u","features":{"x":1,"y":2}}';
      for (const client of sockets) {
        let inFlight = 0;
        const pump = () => {
          while (inFlight < 16) {
            client.send(frame);
            inFlight++;
          }
        };
        client.socket.on('message', (data: Buffer) => {
          const status =
            (JSON.parse(data.toString()) as { status: string; message?: string }).message ?? 'received';
          replies.set(status, (replies.get(status) ?? 0) + 1);
          inFlight--;
          pump();
        });
        pump();
      }
      await sleep(1500);
      sockets.forEach((c) => c.socket.terminate());
      expect(replies.get('received')).toBeGreaterThan(500);
      expect([...replies.keys()]).toEqual(['received']);
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'writes the acks of appended frames before a rate-limit close (1008)',
    async () => {
      const prefix = 'rate:';
      const instance = await startInstance({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        RATE_LIMIT_PER_CONNECTION: '100',
        RATE_LIMIT_BURST: '200',
        RATE_LIMIT_CLOSE_AFTER_MS: '0',
      });
      const client = await WsClient.open(`${instance.ws()}?stream=flood`);
      const statuses: string[] = [];
      client.socket.on('message', (data: Buffer) => statuses.push(data.toString()));
      for (let seq = 1; seq <= 2000; seq++) client.send(`{"seq":${seq}}`);
      expect((await client.waitClosed(10_000)).code).toBe(1008);
      const acked = statuses.filter((s) => s.includes('"received"')).length;
      const log = await readLog(redis.url, prefix);
      expect(acked).toBeGreaterThan(0);
      expect(log.length).toBe(acked);
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'stores an event over MONITOR_EVENT_MAX_BYTES whole, while monitors get its preview',
    async () => {
      const prefix = 'big:';
      const instance = await startInstance({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        MONITOR_EVENT_MAX_BYTES: '1024',
        MONITOR_FLUSH_MS: '10',
      });
      const monitor = await WsClient.open(`ws://127.0.0.1:${instance.port}/ws/monitor`);
      expect((await monitor.nextJson()).type).toBe('hello');
      const client = await WsClient.open(`${instance.ws()}?stream=big`);
      expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'big', last_seq: 0 });
      const big = JSON.stringify({ seq: 1, event_type: 'swipe', pad: 'p'.repeat(4000) });
      client.send(big);
      const ack = await client.nextJson();
      expect(ack).toMatchObject({ status: 'received', seq: 1 });
      let seen: Record<string, unknown> | undefined;
      while (!seen) {
        const frame = await monitor.nextJson<{ type: string; events?: Record<string, unknown>[] }>(10_000);
        seen = frame.events?.find((e) => e.seq === 1);
      }
      expect(seen).toMatchObject({ message_id: ack.message_id, truncated: true, preview: big.slice(0, 200) });
      expect(seen).not.toHaveProperty('data');
      // The log holds the whole frame, under the id the client was given.
      const log = await readLog(redis.url, prefix);
      expect(log.map((e) => [e.fields.message_id, e.fields.data])).toEqual([[String(ack.message_id), big]]);
      client.close();
      monitor.close();
      await instance.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'continues ids above every earlier one after Redis restarts empty, and stores nothing twice afterwards',
    async () => {
      const empty = await RedisServer.start();
      try {
        const instance = await startInstance({ REDIS_URL: empty.url });
        const before = clients(instance, 'empty-a', 2, 100);
        await Promise.all(before.map((p) => p.run(100_000)));
        const maxBefore = Math.max(...before.flatMap((p) => p.received.map((r) => r.message_id!)));
        await empty.stop();
        await empty.restart();
        const after = clients(instance, 'empty-b', 2, 100);
        await Promise.all(after.map((p) => p.run(100_000)));
        const minAfter = Math.min(...after.flatMap((p) => p.received.map((r) => r.message_id!)));
        expect(minAfter).toBeGreaterThan(maxBefore);
        expect(maxBefore).toBeLessThan(2 ** 53 - 1);
        expect(audit(after, await readLog(empty.url, 'cbsa:'))).toEqual(clean(2 * 100));
        await instance.stop();
      } finally {
        await empty.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'closes the older connection of a stream on another instance with 4001, and the newer one serves on',
    async () => {
      const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'takeover:' };
      const [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
      const older = await WsClient.open(`${a.ws()}?stream=phone-1:s`);
      expect(await older.nextJson()).toEqual({ type: 'resume', stream: 'phone-1:s', last_seq: 0 });
      older.send('{"seq":1}');
      expect(await older.nextJson()).toMatchObject({ status: 'received', seq: 1 });
      const newer = await WsClient.open(`${b.ws()}?stream=phone-1:s`);
      expect(await newer.nextJson()).toEqual({ type: 'resume', stream: 'phone-1:s', last_seq: 1 });
      expect(await older.waitClosed()).toEqual({ code: 4001, reason: 'Stream resumed elsewhere' });
      newer.send('{"seq":1}');
      newer.send('{"seq":2}');
      expect(await newer.nextJson()).toEqual({
        status: 'duplicate',
        server_timestamp: expect.any(Number) as unknown,
        seq: 1,
      });
      expect(await newer.nextJson()).toMatchObject({ status: 'received', seq: 2 });
      // Another stream on instance A is not touched.
      const other = await WsClient.open(`${a.ws()}?stream=phone-2:s`);
      expect(await other.nextJson()).toEqual({ type: 'resume', stream: 'phone-2:s', last_seq: 0 });
      other.send('{"seq":1}');
      expect(await other.nextJson()).toMatchObject({ status: 'received', seq: 1 });
      newer.close();
      other.close();
      await Promise.all([a.stop(), b.stop()]);
    },
    TEST_TIMEOUT_MS,
  );
});
