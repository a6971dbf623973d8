// Trimming with STREAM_MAXLEN never deletes what a consumer group has not acknowledged, and
// /metrics reports the stream's length and each group's lag and pending count.
import { Redis } from 'ioredis';
import { scrape } from './support/prometheus.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';
import { sleep } from '../harness/wait.mjs';

describeWithRedis('Stream retention (e2e)', () => {
  let redis: RedisServer;
  let service: Service;
  let port: number;

  beforeAll(async () => {
    redis = await RedisServer.start();
    service = new Service({ REDIS_URL: redis.url, SINK: 'redis-stream', STREAM_MAXLEN: '50' });
    const line = await service.waitForLine((l) => / listening on /.test(l.msg), 90_000);
    port = Number(/:(\d+) /.exec(line.msg)![1]);
  }, 120_000);
  afterAll(async () => {
    await service.stop();
    await redis.stop();
  });

  it('trims towards STREAM_MAXLEN but keeps every entry from the oldest one a group has pending', async () => {
    const reader = new Redis(redis.url);
    try {
      await reader.xgroup('CREATE', 'cbsa:stream', 'risk', '0', 'MKSTREAM');
      const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour?stream=keep`);
      await client.next();
      for (let seq = 1; seq <= 200; seq++) client.send(`{"seq":${seq}}`);
      for (let seq = 1; seq <= 200; seq++) expect((await client.nextJson()).status).toBe('received');
      client.close();
      const read = (await reader.xreadgroup(
        'GROUP',
        'risk',
        'c1',
        'COUNT',
        100,
        'STREAMS',
        'cbsa:stream',
        '>',
      )) as [string, [string, string[]][]][];
      const delivered = read[0][1].map(([id]) => id);
      await reader.xack('cbsa:stream', 'risk', ...delivered.slice(0, 60));
      const oldestPending = delivered[60];
      let length = 200;
      const deadline = Date.now() + 20_000;
      while (length === 200 && Date.now() < deadline) {
        await sleep(200);
        length = await reader.xlen('cbsa:stream');
      }
      // 50 would be the target; entry 61 onwards is pending or undelivered for "risk", so 140 stay.
      expect(length).toBe(140);
      const [[first]] = await reader.xrange('cbsa:stream', '-', '+', 'COUNT', 1);
      expect(first).toBe(oldestPending);
      let metrics = await scrape(`http://127.0.0.1:${port}`);
      for (let i = 0; i < 50 && metrics.get('cbsa_stream_length') !== 140; i++) {
        await sleep(200);
        metrics = await scrape(`http://127.0.0.1:${port}`);
      }
      expect(metrics.get('cbsa_stream_length')).toBe(140);
      expect(metrics.get('cbsa_stream_consumer_lag{group="risk"}')).toBe(100);
      expect(metrics.get('cbsa_stream_consumer_pending{group="risk"}')).toBe(40);
    } finally {
      reader.disconnect();
    }
  }, 120_000);
});
