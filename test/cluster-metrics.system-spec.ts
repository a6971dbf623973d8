// WORKERS=2: one scrape of /metrics on the shared port returns the whole cluster, summed per series.
import type { AckFrame } from '../src/protocol/index.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const CLIENTS = 20;
const VALID_PER_CLIENT = 10;

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describeWithRedis('Cluster metrics, WORKERS=2 (e2e)', () => {
  let redis: RedisServer;
  let service: Service;
  let port: number;

  beforeAll(async () => {
    redis = await RedisServer.start();
    service = new Service({ REDIS_URL: redis.url, WORKERS: '2' });
    port = await service.port();
    // Both workers listening: the port is shared, so the first line is not enough.
    await service.waitForLine(
      () =>
        new Set(
          service
            .lines()
            .filter((l) => / listening on /.test(l.msg))
            .map((l) => l.pid),
        ).size === 2,
      30_000,
    );
  });
  afterAll(async () => {
    await service.stop();
    await redis.stop();
  });

  it('counts in cbsa_frames_total every frame sent to either worker, on every scrape', async () => {
    // A connection per client, so the primary spreads them over both workers.
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
        for (let i = 0; i < VALID_PER_CLIENT; i++) client.send(JSON.stringify({ c, i }));
        client.send('not json');
        for (let i = 0; i < VALID_PER_CLIENT; i++) {
          expect((await client.nextJson<AckFrame>(10_000)).status).toBe('received');
        }
        expect(await client.nextJson(10_000)).toEqual({ status: 'error', message: 'Malformed JSON' });
        client.close();
      }),
    );
    const servedBy = new Set(
      service
        .lines()
        .filter((l) => / connected$/.test(l.msg) && l.msg.startsWith('Client '))
        .map((l) => l.pid),
    );
    expect(servedBy.size).toBe(2);
    // Each scrape lands on either worker; every one must report the cluster's sum.
    for (let scrape = 0; scrape < 4; scrape++) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect({
        received: sample(text, 'cbsa_frames_total{status="received"}'),
        malformed: sample(text, 'cbsa_frames_total{status="malformed"}'),
        rate_limited: sample(text, 'cbsa_frames_total{status="rate_limited"}'),
        unavailable: sample(text, 'cbsa_frames_total{status="unavailable"}'),
      }).toEqual({
        received: CLIENTS * VALID_PER_CLIENT,
        malformed: CLIENTS,
        rate_limited: 0,
        unavailable: 0,
      });
    }
  });
});
