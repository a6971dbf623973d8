// Quarantine (EVENT_SCHEMAS_DIR), e2e on both engines: an event that fails its category's schema
// is stored in the quarantine log with its errors, acked "quarantined", shown as such on the
// monitor, and counts for exactly-once: a resend is a duplicate, also across a kill -9 of the
// service (each seq ends up exactly once in exactly one of the two logs, read back from Redis).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadContract } from './support/contract.js';
import { NatsServer, NATS_SERVER } from '../harness/nats-server.mjs';
import { readLog } from './support/nats.js';
import type { Instance } from '../harness/instance.mjs';
import { startInstance } from './support/privacy.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { ResumableClient } from './support/resumable-client.js';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const TOUCH_SCHEMA = {
  type: 'object',
  required: ['x', 'y'],
  properties: { x: { type: 'number' }, y: { type: 'number' } },
};
const VALID = { event_type: 'tap', x: 1, y: 2 };
const INVALID = { event_type: 'tap', x: 'a', y: 2 };
const KEY = { event_type: 'keyup', up_ms: 12 };
const NUM = expect.any(Number) as unknown;

async function fields(redis: Redis, key: string): Promise<Record<string, string>[]> {
  return (await redis.xrange(key, '-', '+')).map(([, f]) => {
    const out: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) out[f[i]] = f[i + 1];
    return out;
  });
}

describeWithRedis('Quarantine (e2e)', () => {
  let redis: RedisServer;
  let client: Redis;
  let dir: string;
  const instances: Instance[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url);
    dir = mkdtempSync(join(tmpdir(), 'cbsa-schemas-'));
    writeFileSync(join(dir, 'touch.json'), JSON.stringify(TOUCH_SCHEMA));
  }, 30_000);
  afterEach(() => Promise.all(instances.splice(0).map((i) => i.stop())));
  afterAll(async () => {
    await client.quit();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends valid, invalid, the invalid one again (same seq), and an event without a schema. */
  async function scenario(instance: Instance, stream: string) {
    const monitor = await WsClient.open(instance.ws('/ws/monitor'));
    await monitor.nextJson();
    const producer = await WsClient.open(instance.ws(`/ws/behaviour?stream=${stream}`));
    expect(await producer.nextJson()).toEqual({ type: 'resume', stream, last_seq: 0 });
    // The invalid event is sent twice with its seq, as a client resends after a reconnect.
    for (const [event, seq] of [
      [VALID, 1],
      [INVALID, 2],
      [INVALID, 2],
      [KEY, 3],
    ] as const) {
      producer.send(JSON.stringify({ ...event, seq }));
    }
    const acks = [];
    for (let i = 0; i < 4; i++) acks.push(await producer.nextJson());
    producer.close();
    // Each reply and monitor frame matches docs/asyncapi.yaml.
    const contract = await loadContract();
    contract.check('ingest', 'quarantined', JSON.stringify(acks[1]));
    expect(acks).toEqual([
      { status: 'received', server_timestamp: NUM, message_id: NUM, seq: 1 },
      {
        status: 'quarantined',
        server_timestamp: NUM,
        message_id: NUM,
        seq: 2,
        errors: ['/x must be number'],
      },
      { status: 'duplicate', server_timestamp: NUM, seq: 2 },
      { status: 'received', server_timestamp: NUM, message_id: NUM, seq: 3 },
    ]);
    const events: { status: string; errors?: string[]; seq?: number }[] = [];
    await monitor.until<{ type: string; events?: typeof events }>((f) => {
      contract.check('monitor', f.type, JSON.stringify(f));
      if (f.type === 'events') events.push(...f.events!);
      return events.length >= 4;
    });
    monitor.close();
    expect(events.map((e) => [e.seq, e.status, e.errors])).toEqual([
      [1, 'received', undefined],
      [2, 'quarantined', ['/x must be number']],
      [2, 'duplicate', undefined],
      [3, 'received', undefined],
    ]);
  }

  it('refuses to start on a schema named after no category and on an invalid schema, naming both', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'cbsa-schemas-'));
    writeFileSync(join(bad, 'nope.json'), '{}');
    writeFileSync(join(bad, 'touch.json'), '{"type":"wrong"}');
    const service = new Service({ REDIS_URL: redis.url, SINK: 'redis-stream', EVENT_SCHEMAS_DIR: bad });
    expect(await service.exited).not.toBe(0);
    expect(service.stderr + service.stdout).toContain('nope.json: "nope" is not a category of the flow map');
    expect(service.stderr + service.stdout).toContain('touch.json: schema is invalid');
    rmSync(bad, { recursive: true, force: true });
  });

  it('Redis: quarantined events go to <prefix>quarantine with their errors, and count for exactly-once', async () => {
    const prefix = 'q1:';
    const instance = await startInstance({
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      SINK: 'redis-stream',
      EVENT_SCHEMAS_DIR: dir,
      ADMIN_TOKEN: 'admin-token-for-the-quarantine-tests-012345',
    });
    instances.push(instance);
    await scenario(instance, 'qs');
    const log = await fields(client, `${prefix}stream`);
    const quarantine = await fields(client, `${prefix}quarantine`);
    expect(log.map((e) => [e.seq, JSON.parse(e.data) as unknown])).toEqual([
      ['1', { ...VALID, seq: 1 }],
      ['3', { ...KEY, seq: 3 }],
    ]);
    expect(
      quarantine.map((e) => [e.seq, JSON.parse(e.data) as unknown, JSON.parse(e.errors) as unknown]),
    ).toEqual([['2', { ...INVALID, seq: 2 }, ['/x must be number']]]);
    // Erasure by subject takes the subject's quarantined entries too.
    const res = await fetch(instance.http('/admin/subjects/qs/events'), {
      method: 'DELETE',
      headers: { authorization: 'Bearer admin-token-for-the-quarantine-tests-012345' },
    });
    expect(((await res.json()) as { deleted: number }).deleted).toBe(3);
    expect([await client.xlen(`${prefix}stream`), await client.xlen(`${prefix}quarantine`)]).toEqual([0, 0]);
  }, 60_000);

  it('Redis: through a kill -9, every seq is stored exactly once, in the log or in quarantine', async () => {
    const prefix = 'q2:';
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, SINK: 'redis-stream', EVENT_SCHEMAS_DIR: dir };
    let instance = await startInstance(env);
    instances.push(instance);
    const total = 400;
    const producer = new ResumableClient(
      () => instance.ws('/ws/behaviour'),
      'qk',
      total,
      16,
      (seq) =>
        seq % 10 === 0 ? { event_type: 'tap', x: 'bad', y: seq } : { event_type: 'tap', x: seq, y: seq },
    );
    const running = producer.run(90_000);
    while (producer.acked.size < total / 3) await new Promise((r) => setTimeout(r, 10));
    instance.service.proc.kill('SIGKILL');
    await instance.service.exited;
    instance = await startInstance(env);
    instances.push(instance);
    await running;
    const log = await fields(client, `${prefix}stream`);
    const quarantine = await fields(client, `${prefix}quarantine`);
    const seqs = [...log, ...quarantine].map((e) => Number(e.seq)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(quarantine.map((e) => Number(e.seq)).every((s) => s % 10 === 0)).toBe(true);
    expect(quarantine.length).toBe(total / 10);
  }, 120_000);

  (NATS_SERVER === undefined ? it.skip : it)(
    'NATS: quarantined events go to cbsa.quarantine with an errors header, and count for exactly-once',
    async () => {
      const nats = await NatsServer.start();
      try {
        const instance = await startInstance({ SINK: 'nats', NATS_URL: nats.url, EVENT_SCHEMAS_DIR: dir });
        instances.push(instance);
        await scenario(instance, 'qn');
        const log = await readLog(nats.url);
        expect(log.map((e) => [e.headers.seq, e.headers.errors ?? null])).toEqual([
          ['1', null],
          ['2', '["/x must be number"]'],
          ['3', null],
        ]);
      } finally {
        await Promise.all(instances.splice(0).map((i) => i.stop()));
        await nats.dispose();
      }
    },
    60_000,
  );
});
