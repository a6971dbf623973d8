// JWT mode with AUTH_JWKS_URL, the JWKS served by the test on 127.0.0.1: the service starts while
// the JWKS is down (ready 503, upgrades 503) and becomes ready once it answers; its key rotates
// mid-test without a restart; an unknown kid fetches the JWKS again at most once per interval.
import { type RunningApp, startApp } from './support/app.js';
import {
  AUDIENCE,
  ISSUER,
  JwksServer,
  type SigningKey,
  bearer,
  mint,
  refusedUpgrade,
  signingKey,
} from './support/auth.js';
import { sleep, until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const readyStatus = async (base: string) => (await fetch(`${base}/health/ready`)).status;

describe('JWT mode with a JWKS (e2e)', () => {
  let jwks: JwksServer;
  let running: RunningApp;
  let first: SigningKey;
  let ingest: string;

  beforeAll(async () => {
    jwks = await JwksServer.reserve();
    first = await signingKey('ES256', 'key-2026-01');
    jwks.keys = [first.publicJwk!];
    // The JWKS is down at startup: nothing listens on its port yet.
    running = await startApp({
      AUTH_JWKS_URL: jwks.url,
      AUTH_JWT_ISSUER: ISSUER,
      AUTH_JWT_AUDIENCE: AUDIENCE,
      AUTH_JWKS_TIMEOUT_MS: '1000',
      AUTH_JWKS_REFETCH_S: '2',
    });
    ingest = running.ws('/ws/behaviour');
  });
  afterAll(async () => {
    await running.close();
    await jwks.down();
  });

  it('starts with the JWKS down: ready 503 and upgrades 503 until it has keys, then 200', async () => {
    expect(await readyStatus(running.http)).toBe(503);
    const token = await mint(first, { sub: 'device-1' });
    const refusal = await refusedUpgrade(`${ingest}?stream=device-1`, bearer(token));
    expect(refusal.status).toBe(503);
    expect(refusal.body).not.toContain(token);
    await jwks.up();
    await until(
      () => readyStatus(running.http),
      (status) => status === 200,
      10_000,
    );
    const client = await WsClient.open(`${ingest}?stream=device-1`, bearer(token));
    expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'device-1', last_seq: 0 });
    client.close();
  });

  it('follows a key rotation without a restart: the new kid is fetched, the retired key refused', async () => {
    await until(
      () => readyStatus(running.http),
      (status) => status === 200,
      10_000,
    );
    const second = await signingKey('ES256', 'key-2026-02');
    jwks.keys = [second.publicJwk!];
    // Past the refetch interval since the last fetch, a token of the new key triggers one fetch.
    await sleep(2100);
    const client = await WsClient.open(
      `${ingest}?stream=device-2`,
      bearer(await mint(second, { sub: 'device-2' })),
    );
    expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'device-2', last_seq: 0 });
    client.close();
    // The retired key is gone from the set now.
    expect((await refusedUpgrade(ingest, bearer(await mint(first, { sub: 'device-1' })))).status).toBe(401);
  });

  it('tokens with made-up kids fetch the JWKS at most once per refetch interval, and are refused', async () => {
    await sleep(2100);
    const stranger = await signingKey('ES256', 'made-up-0');
    const fetchesBefore = jwks.fetches;
    const statuses = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(
        async (i) =>
          (
            await refusedUpgrade(
              ingest,
              bearer(await mint(stranger, { sub: 'device-x', kid: `made-up-${i}` })),
            )
          ).status,
      ),
    );
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    expect(jwks.fetches - fetchesBefore).toBe(1);
  });
});
