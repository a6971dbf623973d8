// JWT mode with WORKERS=2 (production build, a private redis-server): MAX_CONNECTIONS_PER_SUBJECT
// holds for the machine, not per worker, and a subject's place comes back when a socket closes.
import { bearer, hsKey, jwtEnv, mint, refusedUpgrade } from './support/auth.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { Service } from '../harness/service.mjs';
import { sleep, until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

describeWithRedis('JWT mode with WORKERS=2 (system)', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());

  it('holds MAX_CONNECTIONS_PER_SUBJECT for the machine, not per worker', async () => {
    const key = hsKey();
    const service = new Service({
      ...jwtEnv(key),
      REDIS_URL: redis.url,
      WORKERS: '2',
      MAX_CONNECTIONS_PER_SUBJECT: '2',
    });
    try {
      const first = await service.waitForLine((l) => / listening on /.test(l.msg), 45_000);
      const port = Number(/:(\d+) /.exec(first.msg)![1]);
      const deadline = Date.now() + 45_000;
      while (
        service.lines().filter((l) => / listening on /.test(l.msg)).length < 2 &&
        Date.now() < deadline
      ) {
        await sleep(50);
      }
      const url = `ws://127.0.0.1:${port}/ws/behaviour`;
      const token = await mint(key, { sub: 'phone-1' });
      const open = await Promise.all([1, 2].map(() => WsClient.open(url, bearer(token))));
      // Six more tries land on both workers (SO_REUSEPORT): a per-worker count would let some in.
      for (let i = 0; i < 6; i++) expect((await refusedUpgrade(url, bearer(token))).status).toBe(429);
      // Another subject is served meanwhile.
      const other = await WsClient.open(url, bearer(await mint(key, { sub: 'phone-2' })));
      other.close();
      open[0].close();
      await open[0].closed;
      const again = await until(
        () => WsClient.open(url, bearer(token)).catch(() => undefined),
        (c) => c !== undefined,
        5000,
        50,
      );
      again!.send('{"probe":true}');
      expect(await again!.nextJson()).toMatchObject({ status: 'received' });
      [again!, open[1]].forEach((c) => c.close());
    } finally {
      await service.stop();
    }
  }, 90_000);
});
