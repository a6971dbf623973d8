// @cbsa/client (the built package) against the production build in JWT mode (HS256 secret), with
// SINK=redis-stream and a private redis-server: the stream defaults to the token's `sub`, the token
// goes in the Authorization header, a refresh before `exp` keeps the connection open, and a refused
// refresh ends in 4003, a new token and a resumed stream, with every event stored once.
// Runs where the service has JWT mode (src/auth/).
import { createHmac } from 'node:crypto';
import type * as Sdk from '../client/src/index.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { importSdk, range, readLog } from './support/sdk.js';
import { Service } from '../harness/service.mjs';
import { sleep } from '../harness/wait.mjs';

const SECRET = 'sdk-system-test-secret-of-at-least-32-bytes';
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'cbsa-ingest';

/** An HS256 JWT (the test plays the app's backend, which would mint it with its own library). */
function mint(sub: string, seconds: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + seconds })}`;
  return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
}

describeWithRedis('@cbsa/client against the service in JWT mode', () => {
  let sdk: typeof Sdk;
  let redis: RedisServer;
  let service: Service;
  let url: string;
  const clients: Sdk.CbsaClient[] = [];

  beforeAll(async () => {
    [sdk, redis] = await Promise.all([importSdk(), RedisServer.start()]);
    service = new Service({
      SINK: 'redis-stream',
      REDIS_URL: redis.url,
      AUTH_JWT_SECRET: SECRET,
      AUTH_JWT_ISSUER: ISSUER,
      AUTH_JWT_AUDIENCE: AUDIENCE,
      AUTH_CLOCK_TOLERANCE_S: '0',
    });
    await service.waitForLine((l) => / listening on /.test(l.msg), 60_000);
    url = `ws://127.0.0.1:${await service.port()}/ws/behaviour`;
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) await c.close(0);
    await service?.stop();
    await redis?.stop();
  });

  it("streams on its token's sub and stays connected past exp by refreshing", async () => {
    let issued = 0;
    const c = new sdk.CbsaClient({
      url,
      getToken: () => {
        issued++;
        return Promise.resolve(mint('device-1', 3));
      },
      minDelay: 50,
      maxDelay: 500,
    });
    clients.push(c);
    for (let n = 1; n <= 5; n++) await c.send({ n });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(c.streamId).toBe('device-1');
    await sleep(4_500); // past the first token's exp: refreshed in time, so no 4003
    for (let n = 6; n <= 10; n++) await c.send({ n });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(c.stats).toMatchObject({ reconnects: 0, status: 'connected', acked: 10 });
    expect(issued).toBeGreaterThanOrEqual(2);
    expect((await readLog(redis.url)).get('device-1')!.map((e) => e.seq)).toEqual(range(1, 10));
  }, 30_000);

  it('a refused refresh: 4003 at exp, then a new token and the stream resumed, every event once', async () => {
    let issued = 0;
    const errors: unknown[] = [];
    const statuses: string[] = [];
    // The second token (the refresh) names another subject: refused, so the connection expires.
    const getToken = () => Promise.resolve(++issued === 2 ? mint('someone-else', 60) : mint('device-2', 3));
    const c = new sdk.CbsaClient({
      url,
      getToken,
      minDelay: 50,
      maxDelay: 500,
      onError: (error) => errors.push(error),
      onStatus: (status) => statuses.push(status),
    });
    clients.push(c);
    for (let n = 1; n <= 5; n++) await c.send({ n });
    await expect(c.flush(10_000)).resolves.toBe(true);
    await sleep(4_500);
    for (let n = 6; n <= 10; n++) await c.send({ n });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(errors).toContainEqual(new Error('Token refresh refused: Invalid token'));
    expect(statuses).not.toContain('unauthorized');
    expect(c.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect((await readLog(redis.url)).get('device-2')!.map((e) => e.seq)).toEqual(range(1, 10));
  }, 30_000);
});
