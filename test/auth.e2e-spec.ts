// JWT mode against the real app, in memory mode, with real signed tokens (ES256, EdDSA, HS256):
// every refused token gets its documented HTTP answer and leaves the owner's stream as it was;
// ownership, takeover, the per-subject cap, expiry (4003) and refresh, the subprotocol, the
// monitor's JWT, the refusal counts and the MAX_SEQ_GAP and baseline rules.
import { base64url, decodeJwt } from 'jose';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../src/config/env.js';
import WebSocket from 'ws';
import { type RunningApp, startApp } from './support/app.js';
import {
  AUDIENCE,
  HS_SECRET,
  ISSUER,
  type SigningKey,
  bearer,
  hsKey,
  jwtEnv,
  mint,
  refusedUpgrade,
  signingKey,
} from './support/auth.js';
import { type Contract, loadContract } from './support/contract.js';
import { readHealth, waitForHealth } from './support/health.js';
import { scrape } from './support/prometheus.js';
import { sleep, until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const NUM = expect.any(Number) as unknown;

const seqAck = (seq: number) => ({
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
  seq,
});

/** A resumable connection of `stream` with `token` in the Authorization header, past its resume frame. */
async function openStream(
  running: RunningApp,
  stream: string,
  token: string,
): Promise<{ client: WsClient; lastSeq: number }> {
  const client = await WsClient.open(
    running.ws(`/ws/behaviour?stream=${encodeURIComponent(stream)}`),
    bearer(token),
  );
  const resume = await client.nextJson<{ type: string; last_seq: number }>();
  expect(resume).toEqual({ type: 'resume', stream, last_seq: NUM });
  return { client, lastSeq: resume.last_seq };
}

let contract: Contract;
beforeAll(async () => {
  contract = await loadContract();
});

async function send(client: WsClient, seq: number): Promise<Record<string, unknown>> {
  client.send(JSON.stringify({ seq, event_type: 'tap', x: seq }));
  return client.nextJson();
}

describe('JWT mode with an ES256 public key (e2e)', () => {
  let key: SigningKey;
  let running: RunningApp;
  let ingest: string;

  beforeAll(async () => {
    key = await signingKey('ES256');
    running = await startApp(
      jwtEnv(key, {
        MAX_CONNECTIONS_PER_SUBJECT: '3',
        AUTH_CLOCK_TOLERANCE_S: '0',
        MONITOR_TOKEN: 'monitor-secret-0003',
      }),
    );
    ingest = running.ws('/ws/behaviour');
  });
  afterAll(() => running.close());

  it('a hijack is refused with 403 before any state is read: the owner keeps its socket and its seq, nothing is stored', async () => {
    const monitor = await WsClient.open(
      running.ws('/ws/monitor'),
      bearer(await mint(key, { sub: 'ops-1', scope: 'openid cbsa:monitor' })),
    );
    await monitor.until((f) => f.type === 'hello');
    const stream = 'install-42:session-1';
    const { client: owner, lastSeq } = await openStream(
      running,
      stream,
      await mint(key, { sub: 'install-42' }),
    );
    expect(lastSeq).toBe(0);
    for (const seq of [1, 2, 3]) expect(await send(owner, seq)).toEqual(seqAck(seq));
    const before = await readHealth(running.http);

    const attackerToken = await mint(key, { sub: 'install-666' });
    const refusal = await refusedUpgrade(`${ingest}?stream=${stream}`, bearer(attackerToken));
    expect(refusal.status).toBe(403);
    expect(refusal.body).not.toContain('\n');
    expect(refusal.body).not.toContain(attackerToken);
    // The same by the header that names the stream, and with a token whose sub is a prefix but no owner.
    expect(
      (
        await refusedUpgrade(ingest, {
          headers: { ...bearer(attackerToken).headers, 'X-CBSA-Stream': stream },
        })
      ).status,
    ).toBe(403);
    const prefix = await mint(key, { sub: 'install-4' });
    expect((await refusedUpgrade(`${ingest}?stream=${stream}`, bearer(prefix))).status).toBe(403);

    // The owner was not told anything (no 4001), and its stream goes on from seq 3.
    expect(owner.unread).toEqual([]);
    expect(await send(owner, 4)).toEqual(seqAck(4));
    const after = await readHealth(running.http);
    expect(after.total_messages - before.total_messages).toBe(1);
    expect(after.total_duplicates).toBe(before.total_duplicates);
    expect(after.auth_refused - before.auth_refused).toBe(3);

    // Monitors see the owner's events with its sub, and the refused claims without any token.
    const claims = await monitor.until<{ type: string; claims: Record<string, unknown>[] }>(
      (f) => f.type === 'auth_refused',
    );
    expect(claims.claims).toEqual([
      { stream, sub: 'install-666', reason: 'wrong_stream', at: NUM },
      { stream, sub: 'install-666', reason: 'wrong_stream', at: NUM },
      { stream, sub: 'install-4', reason: 'wrong_stream', at: NUM },
    ]);
    expect(JSON.stringify(claims)).not.toContain(attackerToken.slice(0, 20));
    contract.check('monitor', 'auth_refused', JSON.stringify(claims));
    owner.close();
    monitor.close();
  });

  it('monitor events carry the sub of the connection that sent them', async () => {
    const monitor = await WsClient.open(running.ws('/ws/monitor'), bearer('monitor-secret-0003'));
    await monitor.until((f) => f.type === 'hello');
    const { client } = await openStream(running, 'device-7:s', await mint(key, { sub: 'device-7' }));
    expect(await send(client, 1)).toEqual(seqAck(1));
    const frame = await monitor.until<{ type: string; events?: Record<string, unknown>[] }>(
      (f) => f.type === 'events' && (f.events ?? []).some((e) => e.stream === 'device-7:s'),
    );
    expect(frame.events!.find((e) => e.stream === 'device-7:s')).toMatchObject({
      stream: 'device-7:s',
      seq: 1,
      sub: 'device-7',
      status: 'received',
    });
    contract.check('monitor', 'events', JSON.stringify(frame));
    client.close();
    monitor.close();
  });

  it('only a newer connection of the same subject takes the stream over (4001)', async () => {
    const token = await mint(key, { sub: 'phone-9' });
    const { client: first } = await openStream(running, 'phone-9', token);
    expect(await send(first, 1)).toEqual(seqAck(1));
    const { client: second, lastSeq } = await openStream(running, 'phone-9', token);
    expect(lastSeq).toBe(1);
    expect(await first.waitClosed()).toEqual({ code: 4001, reason: 'Stream resumed elsewhere' });
    expect(await send(second, 2)).toEqual(seqAck(2));
    second.close();
  });

  it('a stream two subjects may own (a and a:b for a:b:c) is not taken over by the other one', async () => {
    const { client: holder } = await openStream(running, 'fam:kid:s1', await mint(key, { sub: 'fam' }));
    expect(await send(holder, 1)).toEqual(seqAck(1));
    const other = await mint(key, { sub: 'fam:kid' });
    expect((await refusedUpgrade(`${ingest}?stream=fam:kid:s1`, bearer(other))).status).toBe(403);
    expect(holder.unread).toEqual([]);
    expect(await send(holder, 2)).toEqual(seqAck(2));
    holder.close();
    await holder.waitClosed();
    // Once the server has seen the holder go, the other owner may open it (and reads where it stands).
    const opened = await until(
      () => openStream(running, 'fam:kid:s1', other).catch(() => undefined),
      (o) => o !== undefined,
      5000,
      50,
    );
    expect(opened!.lastSeq).toBe(2);
    opened!.client.close();
  });

  it.each<[string, () => Promise<string>]>([
    ['a wrong iss', () => mint(key, { iss: 'https://evil.example' })],
    ['a wrong aud', () => mint(key, { aud: 'another-service' })],
    ['an expired token', () => mint(key, { expiresIn: -5 })],
    ['a token not valid yet (nbf)', () => mint(key, { notBefore: 120 })],
    ['no sub', () => mint(key, { sub: undefined })],
    ['a sub outside the stream-id alphabet', () => mint(key, { sub: 'device 1/../x' })],
    ['alg none', () => Promise.resolve(unsecured({ sub: 'device-1', iss: ISSUER, aud: AUDIENCE }))],
    [
      'algorithm confusion (HS256 signed with the public key bytes)',
      () => mint({ alg: 'HS256', kid: key.kid, privateKey: new TextEncoder().encode(key.publicPem) }),
    ],
    ['a token signed by another key', async () => mint(await signingKey('ES256'))],
    ['a tampered payload', async () => tamper(await mint(key, { sub: 'device-1' }), { sub: 'device-2' })],
    ['a token that is no JWT', () => Promise.resolve('not-a-jwt')],
  ])(
    '%s gets 401 with a one-line body that never echoes the token; a valid client is served next',
    async (_name, make) => {
      const token = await make();
      const refusal = await refusedUpgrade(`${ingest}?stream=device-1`, bearer(token));
      expect(refusal.status).toBe(401);
      expect(refusal.headers['www-authenticate']).toBe('Bearer');
      expect(refusal.body).toMatch(/^[^\n]+$/);
      expect(refusal.body).not.toContain(token);
      const { client } = await openStream(running, 'device-1', await mint(key, { sub: 'device-1' }));
      client.close();
    },
  );

  it('a missing token is 401, ?token= is refused in JWT mode, and refusals are counted by reason', async () => {
    const before = await scrape(running.http);
    expect((await refusedUpgrade(ingest)).status).toBe(401);
    const token = await mint(key, { sub: 'device-1' });
    expect((await refusedUpgrade(`${ingest}?token=${token}`)).status).toBe(401);
    expect((await refusedUpgrade(ingest, bearer(await mint(key, { expiresIn: -60 })))).status).toBe(401);
    const after = await scrape(running.http);
    const delta = (reason: string) =>
      (after.get(`cbsa_auth_refused_total{reason="${reason}"}`) ?? 0) -
      (before.get(`cbsa_auth_refused_total{reason="${reason}"}`) ?? 0);
    expect([delta('missing'), delta('invalid'), delta('expired')]).toEqual([1, 1, 1]);
    expect(after.has('cbsa_auth_refused_total{reason="too_many"}')).toBe(true);
  });

  it('takes the token as subprotocol cbsa.bearer.<jwt> beside cbsa.v1, and selects cbsa.v1', async () => {
    const token = await mint(key, { sub: 'browser-1' });
    const socket = await openWithProtocols(`${ingest}?stream=browser-1:tab-1`, [
      'cbsa.v1',
      `cbsa.bearer.${token}`,
    ]);
    expect(socket.protocol).toBe('cbsa.v1');
    expect(socket.first).toEqual({ type: 'resume', stream: 'browser-1:tab-1', last_seq: 0 });
    socket.close();
    // Without cbsa.v1 beside it, the server could select nothing the client accepts: 400.
    expect((await refusedUpgrade(ingest, {}, [`cbsa.bearer.${token}`])).status).toBe(400);
  });

  it('caps live connections per subject (429) and serves the subject again once one closes', async () => {
    const token = await mint(key, { sub: 'busy-1' });
    const open = await Promise.all([1, 2, 3].map(() => WsClient.open(ingest, bearer(token))));
    const refusal = await refusedUpgrade(ingest, bearer(token));
    expect(refusal.status).toBe(429);
    // Another subject is not affected.
    const other = await WsClient.open(ingest, bearer(await mint(key, { sub: 'calm-1' })));
    other.close();
    open[0].close();
    await open[0].waitClosed();
    // Its place comes back once the server has seen the socket close.
    const again = (await until(
      () => WsClient.open(ingest, bearer(token)).catch(() => undefined),
      (c) => c !== undefined,
      5000,
      50,
    ))!;
    again.send('{"probe":true}');
    expect(await again.nextJson()).toMatchObject({ status: 'received' });
    for (const c of [again, open[1], open[2]]) c.close();
  });

  it('without a stream id the seed contract holds in JWT mode', async () => {
    const client = await WsClient.open(ingest, bearer(await mint(key, { sub: 'seed-1' })));
    client.send('{"event_type":"tap"}');
    expect(await client.nextJson()).toEqual({
      status: 'received',
      server_timestamp: NUM,
      message_id: NUM,
    });
    client.close();
  });

  it('a monitor needs MONITOR_TOKEN or a JWT whose scope holds cbsa:monitor', async () => {
    const monitor = running.ws('/ws/monitor');
    expect((await refusedUpgrade(monitor)).status).toBe(401);
    expect((await refusedUpgrade(monitor, bearer(await mint(key, { sub: 'device-1' })))).status).toBe(401);
    expect(
      (await refusedUpgrade(monitor, bearer(await mint(key, { scope: 'cbsa:monitor', aud: 'x' })))).status,
    ).toBe(401);
    const viaQuery = await WsClient.open(
      `${monitor}?token=${await mint(key, { sub: 'ops', scope: 'cbsa:monitor' })}`,
    );
    expect(await viaQuery.nextJson()).toMatchObject({ type: 'hello' });
    viaQuery.close();
  });
});

describe('JWT mode with an EdDSA public key (e2e)', () => {
  let running: RunningApp;
  let key: SigningKey;

  beforeAll(async () => {
    key = await signingKey('EdDSA');
    running = await startApp(jwtEnv(key));
  });
  afterAll(() => running.close());

  it('takes an Ed25519-signed token and refuses an ES256 one', async () => {
    const { client } = await openStream(running, 'ed-device:1', await mint(key, { sub: 'ed-device' }));
    expect(await send(client, 1)).toEqual(seqAck(1));
    client.close();
    const other = await signingKey('ES256');
    expect((await refusedUpgrade(running.ws('/ws/behaviour'), bearer(await mint(other)))).status).toBe(401);
  });
});

describe('JWT mode with the check on the event loop, AUTH_VERIFY_THREADS=0 (e2e)', () => {
  let running: RunningApp;
  let key: SigningKey;

  beforeAll(async () => {
    key = await signingKey('ES256');
    running = await startApp(jwtEnv(key, { AUTH_VERIFY_THREADS: '0' }));
  });
  afterAll(() => running.close());

  it('serves a valid token and refuses forged ones with 401, as the verifier threads do', async () => {
    const { client } = await openStream(running, 'loop-device:1', await mint(key, { sub: 'loop-device' }));
    expect(await send(client, 1)).toEqual(seqAck(1));
    client.close();
    const forged = [
      unsecured({ sub: 'loop-device', iss: ISSUER, aud: AUDIENCE }),
      await mint({ alg: 'HS256', kid: key.kid, privateKey: new TextEncoder().encode(key.publicPem) }),
      await mint(await signingKey('ES256'), { sub: 'loop-device' }),
      tamper(await mint(key, { sub: 'other' }), { sub: 'loop-device' }),
      await mint(key, { sub: 'loop-device', expiresIn: -120 }),
    ];
    for (const [i, token] of forged.entries()) {
      const refusal = await refusedUpgrade(
        running.ws('/ws/behaviour?stream=loop-device:1'),
        bearer(token),
      ).catch((err: Error) => ({ status: `${i}: ${err.message}` }));
      expect(refusal.status).toBe(401);
    }
    const again = await openStream(running, 'loop-device:1', await mint(key, { sub: 'loop-device' }));
    expect(again.lastSeq).toBe(1);
    again.client.close();
  });
});

describe('JWT mode with an HS256 secret: expiry, refresh and seq bounds (e2e)', () => {
  let running: RunningApp;
  const key = hsKey();

  beforeAll(async () => {
    running = await startApp(jwtEnv(key, { AUTH_CLOCK_TOLERANCE_S: '0', MAX_SEQ_GAP: '10' }));
  });
  afterAll(() => running.close());

  it('refuses a token signed with another secret', async () => {
    const other = hsKey('another-secret-that-is-32-bytes-long!');
    expect((await refusedUpgrade(running.ws('/ws/behaviour'), bearer(await mint(other)))).status).toBe(401);
    expect(HS_SECRET.length).toBeGreaterThanOrEqual(32);
  });

  it('takes a token minted by examples/mint-token.mjs', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(PACKAGE_ROOT, 'examples', 'mint-token.mjs'), 'mint-1'],
      { env: { PATH: process.env.PATH, AUTH_JWT_SECRET: HS_SECRET, ISSUER, AUDIENCE } },
    );
    const { client, lastSeq } = await openStream(running, 'mint-1:session-1', stdout.trim());
    expect(lastSeq).toBe(0);
    expect(await send(client, 1)).toEqual(seqAck(1));
    client.close();
  });

  it('closes with 4003 once the token expires, after writing the replies it owes', async () => {
    const { client } = await openStream(running, 'exp-1', await mint(key, { sub: 'exp-1', expiresIn: 2 }));
    expect(await send(client, 1)).toEqual(seqAck(1));
    expect(await client.waitClosed(6000)).toEqual({ code: 4003, reason: 'Token expired' });
  });

  it('a refresh keeps the connection open past the first expiry; it is not an event', async () => {
    const first = await mint(key, { sub: 'ref-1', expiresIn: 3 });
    const { client } = await openStream(running, 'ref-1:s', first);
    expect(await send(client, 1)).toEqual(seqAck(1));
    const before = await readHealth(running.http);
    const fresh = await mint(key, { sub: 'ref-1', expiresIn: 120 });
    client.send(JSON.stringify({ type: 'refresh', token: fresh }));
    const reply = await client.nextJson<{ type: string; exp: number }>();
    expect(reply).toEqual({ type: 'refreshed', exp: NUM });
    expect(contract.matches('ingest', JSON.stringify(reply))).toEqual(['event', 'refreshed']); // `event` is any JSON
    contract.check('ingest', 'refresh', JSON.stringify({ type: 'refresh', token: fresh }));
    expect(reply.exp).toBeGreaterThan(Date.now() / 1000 + 100);
    // Past the first token's expiry (AUTH_CLOCK_TOLERANCE_S=0): still open.
    await sleep(decodeJwt(first).exp! * 1000 + 500 - Date.now());
    expect(await send(client, 2)).toEqual(seqAck(2));
    const after = await readHealth(running.http);
    expect(after.total_messages - before.total_messages).toBe(1);
    client.close();
  });

  it('a refresh with another sub, an expired token, another issuer or no token gets "Invalid token", and the old expiry stands', async () => {
    const refused: (() => Promise<string>)[] = [
      () => mint(key, { sub: 'someone-else', expiresIn: 120 }),
      () => mint(key, { sub: 'ref-2', expiresIn: -5 }),
      () => mint(key, { sub: 'ref-2', iss: 'https://evil.example', expiresIn: 120 }),
      () => Promise.resolve(''),
    ];
    await Promise.all(
      refused.map(async (make, i) => {
        const stream = `ref-2:case-${i}`;
        const { client } = await openStream(running, stream, await mint(key, { sub: 'ref-2', expiresIn: 3 }));
        const token = await make();
        client.send(JSON.stringify({ type: 'refresh', ...(token === '' ? {} : { token }) }));
        const refused = await client.nextJson();
        expect(refused).toEqual({ status: 'error', message: 'Invalid token' });
        contract.check('ingest', 'error', JSON.stringify(refused));
        // Replies stay in frame order around a refresh.
        expect(await send(client, 1)).toEqual(seqAck(1));
        expect(await client.waitClosed(6000)).toEqual({ code: 4003, reason: 'Token expired' });
      }),
    );
  });

  it('a new stream takes any first seq as its baseline (no gap); then a jump past MAX_SEQ_GAP is "Invalid seq"', async () => {
    const before = await readHealth(running.http);
    const token = await mint(key, { sub: 'gap-1' });
    const { client, lastSeq } = await openStream(running, 'gap-1', token);
    expect(lastSeq).toBe(0);
    expect(await send(client, 5000)).toEqual(seqAck(5000));
    expect(await send(client, 5011)).toEqual({ status: 'error', message: 'Invalid seq' });
    expect(await send(client, 5010)).toEqual(seqAck(5010));
    const after = await waitForHealth(running.http, (h) => h.total_messages - before.total_messages === 2);
    // 5000 was the baseline (not a gap of 4999); 5001..5009 are the only gap.
    expect(after.total_gaps - before.total_gaps).toBe(9);
    // A resume continues from the known state: the same rule holds.
    client.close();
    await client.waitClosed();
    const { client: again, lastSeq: resumed } = await openStream(running, 'gap-1', token);
    expect(resumed).toBe(5010);
    expect(await send(again, 5021)).toEqual({ status: 'error', message: 'Invalid seq' });
    again.close();
  });
});

/** An unsecured JWT (`alg: none`), as an attacker would hand-craft one. */
function unsecured(payload: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ ...payload, iat: now, exp: now + 300 })}.`;
}

/** The token with its payload replaced, signature kept. */
function tamper(token: string, claims: Record<string, unknown>): string {
  const [head, body, sig] = token.split('.');
  const payload = JSON.parse(new TextDecoder().decode(base64url.decode(body))) as Record<string, unknown>;
  return `${head}.${base64url.encode(JSON.stringify({ ...payload, ...claims }))}.${sig}`;
}

/** A socket whose upgrade offers `protocols`, with its first frame. */
async function openWithProtocols(
  url: string,
  protocols: string[],
): Promise<{ protocol: string; first: Record<string, unknown>; close: () => void }> {
  const socket = new WebSocket(url, protocols);
  const first = new Promise<Record<string, unknown>>((resolve) =>
    socket.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as Record<string, unknown>)),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { protocol: socket.protocol, first: await first, close: () => socket.close() };
}
