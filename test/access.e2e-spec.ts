// Access control and limits: tokens, the monitor's Origin check, connection caps, the per-connection
// rate limit, heartbeats and negotiated options.
import WebSocket from 'ws';
import { type RunningApp, startApp } from './support/app.js';
import { readHealth, waitForHealth } from './support/health.js';
import { rawRequest, rawWebSocket, upgradeRequest } from './support/raw-frames.js';
import { sleep } from './support/wait.js';
import { TestClient, expectServed } from './support/ws-client.js';

const ACK = {
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
};
const RATE_LIMITED = { status: 'error', message: 'Rate limit exceeded' };

/** The HTTP status an upgrade attempt ends with: 101 when it opened. */
function upgradeStatus(url: string, options?: WebSocket.ClientOptions): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => undefined);
  });
}

describe('Tokens and origins (e2e)', () => {
  let running: RunningApp;
  let ingest: string;
  let monitor: string;

  beforeAll(async () => {
    running = await startApp({
      INGEST_TOKENS: 'ingest-token-a-0001,ingest-token-b-0002',
      MONITOR_TOKEN: 'monitor-secret-0003',
      ALLOWED_ORIGINS: 'https://ops.example.com',
    });
    ingest = running.ws('/ws/behaviour');
    monitor = running.ws('/ws/monitor');
  });
  afterAll(() => running.close());

  it.each([
    ['no token', '', {}, 401],
    ['a wrong bearer token', '', { headers: { Authorization: 'Bearer tok-c' } }, 401],
    ['a token of the wrong length', '?token=ingest-token-a-00011', {}, 401],
    ['a bearer token', '', { headers: { Authorization: 'Bearer ingest-token-a-0001' } }, 101],
    ['the second token in the query', '?token=ingest-token-b-0002', {}, 101],
  ])('ingest with %s', async (_name, suffix, options, status) => {
    expect(await upgradeStatus(`${ingest}${suffix}`, options)).toBe(status);
  });

  it('acks frames on an authorised ingest socket, and a refused upgrade leaves no socket', async () => {
    await waitForHealth(running.http, (h) => h.active_connections === 0);
    expect(await upgradeStatus(ingest)).toBe(401);
    const client = await TestClient.open(`${ingest}?token=ingest-token-a-0001`);
    client.send('{"event_type":"tap"}');
    expect(await client.nextJson()).toEqual(ACK);
    expect((await readHealth(running.http)).active_connections).toBe(1);
    client.close();
    await expectServed(`${ingest}?token=ingest-token-b-0002`);
  });

  it.each([
    ['no token', '', {}, 401],
    ['the token', '?token=monitor-secret-0003', {}, 101],
    ['the token as a bearer header', '', { headers: { Authorization: 'Bearer monitor-secret-0003' } }, 101],
    ['an ingest token', '?token=ingest-token-a-0001', {}, 401],
    [
      'a foreign Origin, even with the token',
      '?token=monitor-secret-0003',
      { origin: 'https://evil.example' },
      403,
    ],
    ['a foreign Origin, no token', '', { origin: 'https://evil.example' }, 403],
    ['an allowed Origin', '?token=monitor-secret-0003', { origin: 'https://ops.example.com' }, 101],
  ])('monitor with %s', async (_name, suffix, options, status) => {
    expect(await upgradeStatus(`${monitor}${suffix}`, options)).toBe(status);
  });

  it("lets the server's own origin watch", async () => {
    const own = `http://127.0.0.1:${running.port}`;
    expect(await upgradeStatus(`${monitor}?token=monitor-secret-0003`, { origin: own })).toBe(101);
  });

  it('answers a plain GET on the WebSocket paths with 401 without a token and 426 with one', async () => {
    const noToken = await fetch(`${running.http}/ws/monitor`);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('www-authenticate')).toBe('Bearer');
    expect((await fetch(`${running.http}/ws/monitor?token=monitor-secret-0003`)).status).toBe(426);
    expect((await fetch(`${running.http}/ws/behaviour?token=ingest-token-b-0002`)).status).toBe(426);
  });
});

describe('Connection caps (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ MAX_CONNECTIONS: '4', MAX_CONNECTIONS_PER_IP: '3' });
  });
  afterAll(() => running.close());

  it('refuses a 4th connection from one address with 429, and lets another address in', async () => {
    const url = running.ws('/ws/behaviour');
    const mine = await Promise.all([1, 2, 3].map(() => TestClient.open(url)));
    expect(await upgradeStatus(url)).toBe(429);
    const other = await TestClient.open(url, { localAddress: '127.0.0.2' });
    other.send('[]');
    expect(await other.nextJson()).toEqual(ACK);
    // Now 4 are open: the global cap answers 503 whoever asks.
    expect(await upgradeStatus(url, { localAddress: '127.0.0.3' })).toBe(503);
    mine[0].close();
    await waitForHealth(running.http, (h) => h.active_connections === 3);
    await expectServed(url);
    [...mine, other].forEach((c) => c.close());
  });

  it('does not count monitors against the ingest cap', async () => {
    const monitors = await Promise.all([1, 2, 3, 4, 5].map(() => TestClient.open(running.ws('/ws/monitor'))));
    await expectServed(running.ws('/ws/behaviour'));
    monitors.forEach((m) => m.close());
  });
});

describe('Rate limit (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      RATE_LIMIT_PER_CONNECTION: '20',
      RATE_LIMIT_BURST: '10',
      RATE_LIMIT_CLOSE_AFTER_MS: '1500',
      MONITOR_FLUSH_MS: '10',
    });
  });
  afterAll(() => running.close());

  it('answers frames over the limit with the error, neither counting nor forwarding them', async () => {
    const monitor = await TestClient.open(running.ws('/ws/monitor'));
    await monitor.nextJson();
    const before = await readHealth(running.http);
    const client = await TestClient.open(running.ws('/ws/behaviour'));
    for (let i = 0; i < 30; i++) client.send(`{"i":${i}}`);
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await client.nextJson());
    const acked = replies.filter((r) => r.status === 'received');
    expect(acked.length).toBeGreaterThanOrEqual(10);
    expect(acked.length).toBeLessThan(15);
    expect(replies.slice(acked.length)).toEqual(replies.slice(acked.length).map(() => RATE_LIMITED));
    const after = await readHealth(running.http);
    expect(after.total_messages - before.total_messages).toBe(acked.length);
    expect(after.total_errors).toBe(before.total_errors);
    let forwarded = 0;
    while (forwarded < acked.length) {
      const frame = await monitor.until<{ type: string; events: unknown[] }>((f) => f.type === 'events');
      forwarded += frame.events.length;
    }
    await expect(monitor.until((f) => f.type === 'events', 300)).rejects.toThrow();
    expect(forwarded).toBe(acked.length);
    monitor.close();
    client.close();
  });

  it("closes a connection still over the limit with 1008, leaving others' acks alone", async () => {
    const flooder = await TestClient.open(running.ws('/ws/behaviour'));
    const neighbour = await TestClient.open(running.ws('/ws/behaviour'));
    const flood = setInterval(() => {
      if (flooder.socket.readyState === WebSocket.OPEN) for (let i = 0; i < 10; i++) flooder.send('{}');
    }, 20);
    try {
      for (let i = 0; i < 5; i++) {
        neighbour.send('{"n":1}');
        expect(await neighbour.nextJson()).toEqual(ACK);
        await sleep(100);
      }
      const closed = await flooder.waitClosed(5000);
      expect(closed).toEqual({ code: 1008, reason: 'Rate limit exceeded' });
    } finally {
      clearInterval(flood);
    }
    neighbour.send('{"n":2}');
    expect(await neighbour.nextJson()).toEqual(ACK);
    neighbour.close();
    await expectServed(running.ws('/ws/behaviour'));
  });
});

describe('Heartbeats and negotiation (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ HEARTBEAT_INTERVAL_MS: '300' });
  });
  afterAll(() => running.close());

  it('drops a half-open client within two intervals, and keeps a live one', async () => {
    const live = await TestClient.open(running.ws('/ws/behaviour'));
    const halfOpen = await rawWebSocket(running.port, '/ws/behaviour');
    halfOpen.pause(); // never reads, never answers a ping: as if the phone vanished
    await waitForHealth(running.http, (h) => h.active_connections === 2);
    await sleep(700);
    expect((await readHealth(running.http)).active_connections).toBe(1);
    live.send('{}');
    expect(await live.nextJson()).toEqual(ACK);
    live.close();
    halfOpen.destroy();
    await expectServed(running.ws('/ws/behaviour'));
  });

  it('does not negotiate per-message compression', async () => {
    const client = await TestClient.open(running.ws('/ws/behaviour'), { perMessageDeflate: true });
    expect(client.socket.extensions).toBe('');
    client.close();
  });
});

describe('HTTP header limits (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ HTTP_MAX_HEADER_BYTES: '4096' });
  });
  afterAll(() => running.close());

  it('answers a header block over HTTP_MAX_HEADER_BYTES with 431, on upgrades and plain requests', async () => {
    const big = { 'X-Padding': 'p'.repeat(6000) };
    const upgrade = await rawRequest(running.port, upgradeRequest('/ws/behaviour', big));
    expect(upgrade.status).toBe(431);
    upgrade.socket.destroy();
    const plain = await rawRequest(
      running.port,
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(6000)}\r\n\r\n`,
    );
    expect(plain.status).toBe(431);
    plain.socket.destroy();
    expect((await fetch(`${running.http}/health`)).status).toBe(200);
    await expectServed(running.ws('/ws/behaviour'));
  });
});

describe('Nested WebSocket paths (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      WEBSOCKET_ENDPOINT: '/ws',
      MONITOR_ENDPOINT: '/ws/monitor',
      MONITOR_TOKEN: 'monitor-secret-0003',
    });
  });
  afterAll(() => running.close());

  it('answers each probe for its own endpoint when one path lies below the other', async () => {
    expect((await fetch(`${running.http}/ws`)).status).toBe(426);
    expect((await fetch(`${running.http}/ws/monitor`)).status).toBe(401);
    expect((await fetch(`${running.http}/ws/monitor?token=monitor-secret-0003`)).status).toBe(426);
    expect(await upgradeStatus(running.ws('/ws/monitor'))).toBe(401);
    const client = await TestClient.open(running.ws('/ws'));
    client.send('{"type":"click"}');
    expect(await client.nextJson()).toEqual(ACK);
    client.close();
  });
});
