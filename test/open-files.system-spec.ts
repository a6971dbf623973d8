// The production build under a low open-files limit (prlimit --nofile=300): the startup check
// warns and states the cap, ingest upgrades past it get 503, and /health, the probes and /metrics
// keep answering, because the file descriptors they need were kept free.
import WebSocket from 'ws';
import { Service } from '../harness/service.mjs';
import { WsClient, expectServed } from '../harness/ws-client.mjs';
import { waitForHealth } from './support/health.js';

const LIMIT = 300;
const HEADROOM = 256; // FD_HEADROOM's default
const CAP = LIMIT - HEADROOM;

function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => resolve(0));
  });
}

describe(`Open-files limit (prlimit --nofile=${LIMIT}, e2e)`, () => {
  let service: Service;
  let http: string;
  let ingest: string;
  const clients: WsClient[] = [];

  beforeAll(async () => {
    // Heartbeats off: on a busy machine a missed pong would free slots mid-test.
    service = new Service({ HEARTBEAT_INTERVAL_MS: '0' }, { launcher: ['prlimit', `--nofile=${LIMIT}`] });
    const port = await service.port();
    http = `http://127.0.0.1:${port}`;
    ingest = `ws://127.0.0.1:${port}/ws/behaviour`;
  }, 90_000);

  afterAll(async () => {
    clients.forEach((c) => c.close());
    await service.stop();
  });

  it('warns at startup that MAX_CONNECTIONS does not fit, and states the effective cap', async () => {
    const line = await service.waitForLine((l) => l.context === 'OpenFiles');
    expect({ level: line.level, msg: line.msg }).toEqual({
      level: 40,
      msg:
        `MAX_CONNECTIONS (10000) + FD_HEADROOM (${HEADROOM}) exceeds the open-files limit ${LIMIT}; ` +
        `Ingest cap is ${CAP}: further ingest upgrades get HTTP 503 so /health, probes and /metrics keep answering ` +
        '(raise the limit, e.g. LimitNOFILE= or ulimit -n, or lower MAX_CONNECTIONS)',
    });
  });

  it(`holds ${CAP} ingest sockets, refuses more with 503, and /health, probes and /metrics keep answering`, async () => {
    for (let i = 0; i < CAP; i++) clients.push(await WsClient.open(ingest));
    for (const [i, client] of clients.entries()) {
      client.send(`{"n":${i}}`);
      expect(await client.nextJson()).toEqual({
        status: 'received',
        server_timestamp: expect.any(Number) as number,
        message_id: expect.any(Number) as number,
      });
    }
    await waitForHealth(http, (h) => h.active_connections === CAP);
    // A burst of upgrades over the cap, all at once: every one refused, none let in.
    const statuses = await Promise.all(Array.from({ length: 100 }, () => upgradeStatus(ingest)));
    expect(statuses).toEqual(Array.from({ length: 100 }, () => 503));
    // The plain-GET probe on the ingest path says the same.
    expect((await fetch(ingest.replace('ws:', 'http:'))).status).toBe(503);
    const [health, live, ready, metrics] = await Promise.all(
      ['/health', '/health/live', '/health/ready', '/metrics'].map((path) => fetch(`${http}${path}`)),
    );
    expect({
      health: health.status,
      live: live.status,
      ready: ready.status,
      metrics: metrics.status,
    }).toEqual({ health: 200, live: 200, ready: 200, metrics: 200 });
    const body = (await health.json()) as Record<string, unknown>;
    expect(body.active_connections).toBe(CAP);
    expect(await metrics.text()).toContain(`\ncbsa_active_connections ${CAP}\n`);
    // Every held socket is still served.
    for (const client of clients) {
      client.send('{"still":"here"}');
      expect((await client.nextJson()).status).toBe('received');
    }
  }, 60_000);

  it('a freed slot serves a fresh client right away', async () => {
    const leaving = clients.pop()!;
    leaving.close();
    await leaving.waitClosed();
    await waitForHealth(http, (h) => h.active_connections === CAP - 1);
    await expectServed(ingest);
    await waitForHealth(http, (h) => h.active_connections === CAP - 1);
    expect(await upgradeStatus(ingest)).toBe(101);
  }, 30_000);
});
