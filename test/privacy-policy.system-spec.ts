// Privacy at ingestion, e2e: the field policy (EVENT_POLICY_FILE) transforms each event once, and
// the log (Redis Streams and NATS JetStream), the monitors and the Redis bus all get exactly that;
// entries carry the policy's version and acks do not change. An invalid policy stops the start
// with every problem named. MONITOR_DATA=none leaks no event data in any monitor frame.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { PACKAGE_ROOT } from '../src/config/schema.js';
import { policyVersion } from '../src/privacy/event-policy.js';
import { type RunningApp, startApp } from './support/app.js';
import { loadContract } from './support/contract.js';
import { NatsServer, NATS_SERVER } from '../harness/nats-server.mjs';
import { readLog } from './support/nats.js';
import type { Instance } from '../harness/instance.mjs';
import { sendStream, startInstance } from './support/privacy.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { WsClient } from '../harness/ws-client.mjs';
import { sleep, until } from '../harness/wait.mjs';

const KEY = 'policy-hash-key-for-tests-0123456789';
const hmac = (text: string) => createHmac('sha256', KEY).update(text).digest('hex');
const POLICY = {
  rules: [
    { match: { category: 'keystroke' }, drop: ['key', 'char', 'code', 'text', 'value'] },
    { hash: ['user_id'] },
    { match: { category: 'touch' }, round: { x: 0 } },
  ],
};
const VERSION = policyVersion(POLICY);
const EXAMPLE_POLICY = join(PACKAGE_ROOT, 'examples', 'keystroke-privacy-policy.json');

/** The events a test sends, and what the policy must turn them into. */
const SENT = [
  { event_type: 'keydown', key: 'p', char: 'p', code: 'KeyP', dwell_ms: 81, user_id: 'alice' },
  { event_type: 'tap', x: 10.6, y: 3.25, user_id: 'alice' },
];
const STORED = [
  { event_type: 'keydown', dwell_ms: 81, user_id: hmac('alice'), seq: 1 },
  { event_type: 'tap', x: 11, y: 3.25, user_id: hmac('alice'), seq: 2 },
];
const MARKS = [
  { dropped: ['key', 'char', 'code', 'text', 'value'], hashed: ['user_id'], rounded: [] },
  { dropped: [], hashed: ['user_id'], rounded: ['x'] },
];

interface MonitorEvent {
  status: string;
  stream?: string;
  data?: unknown;
  policy?: unknown;
  [key: string]: unknown;
}

interface Frame {
  type: string;
  events?: MonitorEvent[];
}

/** Events of `stream` from a monitor, in order, until `count` arrived. */
async function monitorEvents(monitor: WsClient, stream: string, count: number): Promise<MonitorEvent[]> {
  const seen: MonitorEvent[] = [];
  await monitor.until<Frame>((frame) => {
    if (frame.type === 'events') seen.push(...frame.events!.filter((e) => e.stream === stream));
    return seen.length >= count;
  }, 15_000);
  return seen;
}

describeWithRedis('Field policy (e2e)', () => {
  let redis: RedisServer;
  let dir: string;
  let policyFile: string;
  const apps: RunningApp[] = [];
  const instances: Instance[] = [];
  const clients: WsClient[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'cbsa-policy-'));
    policyFile = join(dir, 'policy.json');
    writeFileSync(policyFile, JSON.stringify(POLICY));
  }, 30_000);
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.socket.terminate());
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(instances.splice(0).map((i) => i.stop()));
  });
  afterAll(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const policyEnv = (extra: Record<string, string>) => ({
    REDIS_URL: redis.url,
    EVENT_POLICY_FILE: policyFile,
    POLICY_HASH_KEY: KEY,
    ...extra,
  });

  /** Two instances (separate processes) on one Redis, monitors on both; SENT goes to the first. */
  async function acrossTheBus(env: Record<string, string>, stream: string): Promise<void> {
    const [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    instances.push(a, b);
    const local = await WsClient.open(a.ws('/ws/monitor'));
    const remote = await WsClient.open(b.ws('/ws/monitor'));
    clients.push(local, remote);
    expect((await local.nextJson()).privacy).toEqual({ monitor_data: 'full', policy_version: VERSION });
    await remote.nextJson();
    // a publishes its events on the bus once it knows b has a monitor (b announces it at once).
    await sleep(300);
    const acks = await sendStream(
      a.ws(`/ws/behaviour?stream=${stream}`),
      SENT.length,
      (seq) => SENT[seq - 1],
    );
    // The ack is as without a policy.
    expect(acks).toEqual(
      SENT.map((_, i) => ({
        status: 'received',
        server_timestamp: expect.any(Number) as unknown,
        message_id: expect.any(Number) as unknown,
        seq: i + 1,
      })),
    );
    const contract = await loadContract();
    for (const m of [local, remote]) {
      const events = await monitorEvents(m, stream, 2);
      for (const e of events)
        contract.check('monitor', 'events', JSON.stringify({ type: 'events', events: [e] }));
      expect(events.map((e) => e.data)).toEqual(STORED);
      expect(events.map((e) => e.policy)).toEqual(MARKS);
    }
  }

  it('refuses to start on an invalid policy, naming every problem at once', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ rules: [{ drop: 'key' }, { hash: ['u'], round: { x: -1 } }] }));
    await expect(startApp({ EVENT_POLICY_FILE: bad })).rejects.toThrow(
      `EVENT_POLICY_FILE ${bad} is invalid:\n` +
        '  - rules[0].drop: expected a non-empty array of dotted field paths\n' +
        '  - rules[1].hash: needs POLICY_HASH_KEY to be set\n' +
        '  - rules[1].round.x: expected an integer from 0 to 15',
    );
  });

  it('Redis: the log, the local monitor and the other instance (bus) get the same transformed data', async () => {
    const prefix = 'pol1:';
    await acrossTheBus(policyEnv({ SINK: 'redis-stream', REDIS_PREFIX: prefix }), 'p1');
    const client = new Redis(redis.url);
    const entries = (await client.xrange(`${prefix}stream`, '-', '+')).map(([, f]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < f.length; i += 2) fields[f[i]] = f[i + 1];
      return fields;
    });
    await client.quit();
    expect(entries.map((e) => JSON.parse(e.data) as unknown)).toEqual(STORED);
    expect(entries.map((e) => e.policy)).toEqual([VERSION, VERSION]);
  }, 90_000);

  (NATS_SERVER === undefined ? it.skip : it)(
    'NATS: the log, the local monitor and the other instance (bus) get the same transformed data',
    async () => {
      const nats = await NatsServer.start();
      try {
        await acrossTheBus(policyEnv({ SINK: 'nats', NATS_URL: nats.url, REDIS_PREFIX: 'pol2:' }), 'p2');
        const log = await readLog(nats.url);
        expect(log.map((e) => JSON.parse(e.data) as unknown)).toEqual(STORED);
        expect(log.map((e) => e.headers.policy)).toEqual([VERSION, VERSION]);
      } finally {
        await Promise.all(instances.splice(0).map((i) => i.stop()));
        await nats.dispose();
      }
    },
    90_000,
  );

  it('the example policy drops key identity and keeps timings; malformed frames show no preview', async () => {
    apps.push(await startApp({ EVENT_POLICY_FILE: EXAMPLE_POLICY, MONITOR_FLUSH_MS: '10' }));
    const m = await WsClient.open(apps[0].ws('/ws/monitor'));
    clients.push(m);
    await m.nextJson();
    const client = await WsClient.open(apps[0].ws('/ws/behaviour'));
    client.send(JSON.stringify({ event_type: 'keyup', key: 'x', text: 'x', value: 'pwx', up_ms: 12 }));
    client.send('{"key":"s3cret" not json');
    await client.nextJson();
    await client.nextJson();
    client.close();
    const events: MonitorEvent[] = [];
    await m.until<Frame>((f) => {
      if (f.type === 'events') events.push(...f.events!);
      return events.length >= 2;
    });
    expect(events[0].data).toEqual({ event_type: 'keyup', up_ms: 12 });
    expect(events[1]).toMatchObject({ status: 'error', preview: '' });
  });
});

describeWithRedis('MONITOR_DATA=none (e2e)', () => {
  let redis: RedisServer;
  const instances: Instance[] = [];
  const SECRET = 'hunter2-secret';

  beforeAll(async () => {
    redis = await RedisServer.start();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(instances.splice(0).map((i) => i.stop()));
    await redis.stop();
  });

  it('no data, preview or policy field in any frame: live, replay, filtered, duplicates, errors, other instances', async () => {
    const base = { REDIS_URL: redis.url, REDIS_PREFIX: 'none:', MONITOR_REPLAY: '100' };
    // The other instance is on MONITOR_DATA=full: its events reach this one's monitors without data.
    const [quiet, loud] = await Promise.all([
      startInstance({ ...base, MONITOR_DATA: 'none', MONITOR_EVENT_MAX_BYTES: '1024' }),
      startInstance({ ...base, MONITOR_DATA: 'full' }),
    ]);
    instances.push(quiet, loud);
    const frames: string[] = [];
    const watch = async (query: string) => {
      const m = await WsClient.open(quiet.ws(`/ws/monitor${query}`));
      m.socket.on('message', (d: Buffer) => frames.push(d.toString()));
      return m;
    };
    const live = await watch('');
    const filtered = await watch(`?filter=user_id:${SECRET}`);
    await sleep(300);
    const event = (seq: number) =>
      JSON.stringify({ event_type: 'keydown', key: SECRET, user_id: SECRET, seq });
    for (const [instance, stream] of [
      [quiet, 'q1'],
      [loud, 'l1'],
    ] as const) {
      const c = await WsClient.open(instance.ws(`/ws/behaviour?stream=${stream}`));
      await c.nextJson();
      c.send(event(1));
      c.send(event(1)); // a duplicate
      c.send(`{"${SECRET}" not json`);
      c.send(JSON.stringify({ pad: SECRET.repeat(100), seq: 2 })); // over MONITOR_EVENT_MAX_BYTES
      for (let i = 0; i < 4; i++) await c.nextJson();
      c.close();
    }
    const statuses = () =>
      frames
        .map((f) => JSON.parse(f) as Frame)
        .filter((f) => f.type === 'events')
        .flatMap((f) => f.events!)
        .map((e) => `${e.stream ?? '-'}:${e.status}`);
    // quiet's own 4 events and loud's 4, on the live monitor.
    await until(statuses, (s) => s.filter((x) => x.startsWith('l1:')).length >= 3 && s.length >= 6);
    const replay = await watch('');
    await sleep(300);
    for (const m of [live, filtered, replay]) m.socket.terminate();
    const contract = await loadContract();
    for (const f of frames) contract.check('monitor', (JSON.parse(f) as Frame).type, f);
    const events = frames
      .map((f) => JSON.parse(f) as Frame)
      .filter((f) => f.type === 'events')
      .flatMap((f) => f.events!);
    expect(new Set(events.map((e) => e.status))).toEqual(new Set(['received', 'duplicate', 'error']));
    for (const e of events) {
      expect(Object.keys(e).filter((k) => ['data', 'preview', 'policy', 'truncated'].includes(k))).toEqual(
        [],
      );
    }
    expect(frames.filter((f) => f.includes(SECRET))).toEqual([]);
    expect((JSON.parse(frames[0]) as { privacy?: unknown }).privacy).toEqual({ monitor_data: 'none' });
  }, 90_000);
});
