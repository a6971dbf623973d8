// JWT mode with a durable log, judged by reading the log itself: every entry records who wrote it
// (Redis Stream fields and NATS headers `sub` and `kid`; empty under static tokens), a hijack
// stores nothing and leaves last_seq as it was, the MAX_SEQ_GAP and unknown-state rules hold
// where the seq is decided (the Redis Lua script, the NATS sink), and an expiring connection
// writes the reply it owes before its 4003.
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import { type RunningApp, startApp } from './support/app.js';
import { type SigningKey, bearer, hsKey, jwtEnv, mint, refusedUpgrade, signingKey } from './support/auth.js';
import { readHealth, waitForHealth } from './support/health.js';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats, readLog as readNatsLog } from './support/nats.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { sleep } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const seqAck = (seq: number) => ({
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
  seq,
});
const INVALID_SEQ = { status: 'error', message: 'Invalid seq' };

interface Entry {
  stream: string;
  seq: string;
  sub: string;
  kid: string;
  data: string;
}

/** Every entry of the Redis Stream, its fields by name. */
async function redisLog(url: string, prefix = 'cbsa:'): Promise<Entry[]> {
  const redis = new Redis(url);
  try {
    const entries = await redis.xrange(`${prefix}stream`, '-', '+');
    return entries.map(([, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
      return fields as unknown as Entry;
    });
  } finally {
    redis.disconnect();
  }
}

async function openStream(
  running: RunningApp,
  stream: string,
  token: string,
): Promise<{ client: WsClient; lastSeq: number }> {
  const client = await WsClient.open(
    running.ws(`/ws/behaviour?stream=${encodeURIComponent(stream)}`),
    bearer(token),
  );
  const resume = await client.nextJson<{ last_seq: number }>();
  return { client, lastSeq: resume.last_seq };
}

async function send(client: WsClient, seq: number): Promise<Record<string, unknown>> {
  client.send(JSON.stringify({ seq, event_type: 'tap' }));
  return client.nextJson();
}

/** The hijack, played on any engine: 403, the owner untouched, nothing of the attacker's in `log()`. */
async function hijack(
  running: RunningApp,
  key: SigningKey,
  log: () => Promise<{ stream: string; sub: string; seq: number }[]>,
) {
  const stream = 'install-42:session-1';
  const { client: owner } = await openStream(running, stream, await mint(key, { sub: 'install-42' }));
  for (const seq of [1, 2, 3]) expect(await send(owner, seq)).toEqual(seqAck(seq));
  const attacker = await mint(key, { sub: 'install-666' });
  expect((await refusedUpgrade(running.ws(`/ws/behaviour?stream=${stream}`), bearer(attacker))).status).toBe(
    403,
  );
  const header = { headers: { ...bearer(attacker).headers, 'X-CBSA-Stream': stream } };
  expect((await refusedUpgrade(running.ws('/ws/behaviour'), header)).status).toBe(403);
  expect(owner.unread).toEqual([]);
  expect(await send(owner, 4)).toEqual(seqAck(4));
  const entries = (await log()).filter((e) => e.stream === stream);
  expect(entries.map((e) => [e.seq, e.sub])).toEqual([
    [1, 'install-42'],
    [2, 'install-42'],
    [3, 'install-42'],
    [4, 'install-42'],
  ]);
  owner.close();
  await owner.waitClosed();
  const { client: again, lastSeq } = await openStream(
    running,
    stream,
    await mint(key, { sub: 'install-42' }),
  );
  expect(lastSeq).toBe(4);
  again.close();
}

/** MAX_SEQ_GAP=10 and the baseline rule, on any engine; `stored(stream)` reads the log's seqs. */
async function seqBounds(
  running: RunningApp,
  key: SigningKey,
  stored: (stream: string) => Promise<number[]>,
) {
  const before = await readHealth(running.http);
  const { client } = await openStream(running, 'gap-1:s', await mint(key, { sub: 'gap-1' }));
  expect(await send(client, 700)).toEqual(seqAck(700));
  expect(await send(client, 711)).toEqual(INVALID_SEQ);
  expect(await send(client, 710)).toEqual(seqAck(710));
  const after = await waitForHealth(running.http, (h) => h.total_messages - before.total_messages === 2);
  // 700 is the baseline of an unknown stream, not a gap of 699; 701..709 are the only gap.
  expect(after.total_gaps - before.total_gaps).toBe(9);
  expect(await stored('gap-1:s')).toEqual([700, 710]);
  client.close();
}

describeWithRedis('JWT mode with SINK=redis-stream (e2e)', () => {
  let redis: RedisServer;
  let running: RunningApp;
  let key: SigningKey;

  beforeAll(async () => {
    redis = await RedisServer.start();
    key = await signingKey('ES256', 'device-key-7');
    running = await startApp(
      jwtEnv(key, {
        REDIS_URL: redis.url,
        SINK: 'redis-stream',
        MAX_SEQ_GAP: '10',
        AUTH_CLOCK_TOLERANCE_S: '0',
        REDIS_COMMAND_TIMEOUT_MS: '10000',
        SINK_READY_MAX_AGE_MS: '60000',
      }),
    );
  });
  afterAll(async () => {
    await running.close();
    await redis.stop();
  });

  it('a hijack stores nothing, leaves last_seq and the owner alone; every entry holds its sub and kid', async () => {
    await hijack(running, key, async () =>
      (await redisLog(redis.url)).map((e) => ({ stream: e.stream, sub: e.sub, seq: Number(e.seq) })),
    );
    const entries = (await redisLog(redis.url)).filter((e) => e.stream === 'install-42:session-1');
    expect(new Set(entries.map((e) => `${e.sub}/${e.kid}`))).toEqual(new Set(['install-42/device-key-7']));
  });

  it('the Lua script applies MAX_SEQ_GAP to known state and takes any first seq of unknown state as its baseline', async () => {
    const stored = async (stream: string) =>
      (await redisLog(redis.url)).filter((e) => e.stream === stream).map((e) => Number(e.seq));
    await seqBounds(running, key, stored);
    // The state expires (STREAM_STATE_TTL_S): unknown again, the next seq is a baseline, no gap.
    const client = new Redis(redis.url);
    await client.del('cbsa:seq:gap-1:s');
    client.disconnect();
    const before = await readHealth(running.http);
    const { client: again, lastSeq } = await openStream(
      running,
      'gap-1:s',
      await mint(key, { sub: 'gap-1' }),
    );
    expect(lastSeq).toBe(0);
    expect(await send(again, 5000)).toEqual(seqAck(5000));
    const after = await readHealth(running.http);
    expect(after.total_gaps).toBe(before.total_gaps);
    expect(await stored('gap-1:s')).toEqual([700, 710, 5000]);
    again.close();
  });

  it('on expiry the reply still owed is written before the 4003 close', async () => {
    const token = await mint(key, { sub: 'exp-9', expiresIn: 3 });
    const { client } = await openStream(running, 'exp-9', token);
    expect(await send(client, 1)).toEqual(seqAck(1));
    redis.pause();
    client.send('{"seq":2,"event_type":"tap"}');
    // Redis answers nothing until the token has expired (AUTH_CLOCK_TOLERANCE_S=0): the ack is owed then.
    await sleep(decodeJwt(token).exp! * 1000 + 500 - Date.now());
    redis.resume();
    expect(await client.nextJson()).toEqual(seqAck(2));
    expect(await client.waitClosed()).toEqual({ code: 4003, reason: 'Token expired' });
  });

  it('under static tokens the sub and kid fields are there, empty', async () => {
    const staticApp = await startApp({
      REDIS_URL: redis.url,
      SINK: 'redis-stream',
      REDIS_PREFIX: 'static:',
      INGEST_TOKENS: 'ingest-token-a-0001',
    });
    try {
      const client = await WsClient.open(
        staticApp.ws('/ws/behaviour?stream=shared-1'),
        bearer('ingest-token-a-0001'),
      );
      await client.nextJson();
      expect(await send(client, 1)).toEqual(seqAck(1));
      client.close();
      const [entry] = await redisLog(redis.url, 'static:');
      expect([entry.stream, entry.sub, entry.kid]).toEqual(['shared-1', '', '']);
    } finally {
      await staticApp.close();
    }
  });
});

describeWithNats('JWT mode with SINK=nats (e2e)', () => {
  let nats: NatsServer;
  let running: RunningApp;
  const key = hsKey(undefined, 'hs-2026');

  beforeAll(async () => {
    nats = await NatsServer.start();
    running = await startApp(jwtEnv(key, { SINK: 'nats', NATS_URL: nats.url, MAX_SEQ_GAP: '10' }));
  });
  afterAll(async () => {
    await running.close();
    await nats.dispose();
  });

  const natsEntries = async () =>
    (await readNatsLog(nats.url)).map((e) => ({
      stream: e.headers.stream ?? '',
      seq: Number(e.headers.seq),
      sub: e.headers.sub,
      kid: e.headers.kid,
    }));

  it('a hijack stores nothing, leaves last_seq and the owner alone; every message holds its sub and kid', async () => {
    await hijack(running, key, natsEntries);
    const entries = (await natsEntries()).filter((e) => e.stream === 'install-42:session-1');
    expect(new Set(entries.map((e) => `${e.sub}/${e.kid}`))).toEqual(new Set(['install-42/hs-2026']));
  });

  it('the NATS sink applies MAX_SEQ_GAP to known state and takes any first seq of unknown state as its baseline', async () => {
    await seqBounds(running, key, async (stream) =>
      (await natsEntries()).filter((e) => e.stream === stream).map((e) => e.seq),
    );
  });
});
