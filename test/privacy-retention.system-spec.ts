// RETENTION_MAX_AGE_S: entries older than the age leave the Redis Stream (XTRIM MINID by time),
// even those a consumer group has not read, which is logged and counted; younger ones stay. On
// NATS the stream's max_age is the retention, and a NATS_MAX_AGE_S that differs is refused.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { type RunningApp, startApp } from './support/app.js';
import { NatsServer, NATS_SERVER } from '../harness/nats-server.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { WsClient } from '../harness/ws-client.mjs';
import { until } from '../harness/wait.mjs';

const AGE_S = 3;

async function sendEvents(app: RunningApp, count: number): Promise<void> {
  const client = await WsClient.open(app.ws('/ws/behaviour'));
  for (let i = 0; i < count; i++) client.send(JSON.stringify({ event_type: 'tap', n: i }));
  for (let i = 0; i < count; i++) expect((await client.nextJson()).status).toBe('received');
  client.close();
}

async function metric(app: RunningApp, name: string): Promise<number> {
  const text = await (await fetch(`${app.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

describeWithRedis('Retention by age (e2e)', () => {
  let redis: RedisServer;
  let client: Redis;
  let app: RunningApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url);
  }, 30_000);
  afterAll(async () => {
    await client.quit();
    await redis.stop();
  });

  it('Redis: deletes entries older than RETENTION_MAX_AGE_S, unread ones too (counted), keeps younger ones', async () => {
    app = await startApp({
      REDIS_URL: redis.url,
      SINK: 'redis-stream',
      REDIS_PREFIX: 'ret:',
      RETENTION_MAX_AGE_S: String(AGE_S),
    });
    try {
      // A consumer group that reads nothing: every entry stays unread.
      await client.xgroup('CREATE', 'ret:stream', 'slow', '$', 'MKSTREAM');
      await sendEvents(app, 20);
      const sentAt = Date.now();
      expect(await client.xlen('ret:stream')).toBe(20);
      await until(
        () => client.xlen('ret:stream'),
        (n) => n === 0,
        (AGE_S + 5) * 1000,
      );
      // Not before their age.
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(AGE_S * 1000 - 1000);
      expect(await metric(app, 'cbsa_retention_deleted_total')).toBe(20);
      expect(await metric(app, 'cbsa_retention_deleted_unread_total')).toBe(20);
      // Younger entries stay.
      await sendEvents(app, 5);
      expect(await client.xlen('ret:stream')).toBe(5);
    } finally {
      await app.close();
    }
  }, 30_000);

  (NATS_SERVER === undefined ? it.skip : it)(
    'NATS: the stream max_age is the retention; a different NATS_MAX_AGE_S is refused',
    async () => {
      const nats = await NatsServer.start();
      try {
        await expect(
          startApp({ SINK: 'nats', NATS_URL: nats.url, RETENTION_MAX_AGE_S: '600' }),
        ).rejects.toThrow(/NATS_MAX_AGE_S/);
        app = await startApp({
          SINK: 'nats',
          NATS_URL: nats.url,
          RETENTION_MAX_AGE_S: '600',
          NATS_MAX_AGE_S: '600',
        });
        await app.close();
        const nc = await connect({ servers: nats.url });
        const info = await (await jetstreamManager(nc)).streams.info('CBSA');
        expect(info.config.max_age).toBe(600 * 1e9);
        await nc.close();
      } finally {
        await nats.dispose();
      }
    },
    30_000,
  );
});
