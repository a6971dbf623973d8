// Access control and limits: tokens, the monitor's Origin check, connection caps, the per-connection
// rate limit, heartbeats and negotiated options.
import { type AddressInfo, createServer } from 'node:net';
import WebSocket from 'ws';
import { type RunningApp, startApp } from './support/app.js';
import { readHealth, waitForHealth } from './support/health.js';
import { closeCode, frame, rawRequest, rawWebSocket, upgradeRequest } from './support/raw-frames.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { type LogLine, Service } from '../harness/service.mjs';
import { sleep } from '../harness/wait.mjs';
import { WsClient, expectServed } from '../harness/ws-client.mjs';

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
    const client = await WsClient.open(`${ingest}?token=ingest-token-a-0001`);
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
    const mine = await Promise.all([1, 2, 3].map(() => WsClient.open(url)));
    expect(await upgradeStatus(url)).toBe(429);
    const other = await WsClient.open(url, { localAddress: '127.0.0.2' });
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
    const monitors = await Promise.all([1, 2, 3, 4, 5].map(() => WsClient.open(running.ws('/ws/monitor'))));
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
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    await monitor.nextJson();
    const before = await readHealth(running.http);
    const client = await WsClient.open(running.ws('/ws/behaviour'));
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
    const flooder = await WsClient.open(running.ws('/ws/behaviour'));
    const neighbour = await WsClient.open(running.ws('/ws/behaviour'));
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
    const live = await WsClient.open(running.ws('/ws/behaviour'));
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
    const client = await WsClient.open(running.ws('/ws/behaviour'), { perMessageDeflate: true });
    expect(client.socket.extensions).toBe('');
    client.close();
  });
});

describe('Paced heartbeats (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ HEARTBEAT_INTERVAL_MS: '1000' });
  });
  afterAll(() => running.close());

  it('spreads the pings of each interval over it instead of one burst, and keeps live clients', async () => {
    const clients = await Promise.all(
      Array.from({ length: 30 }, () => WsClient.open(running.ws('/ws/behaviour'))),
    );
    const pings: number[] = [];
    const perClient = clients.map(() => 0);
    clients.forEach((client, i) =>
      client.socket.on('ping', () => {
        pings.push(performance.now());
        perClient[i]++;
      }),
    );
    await sleep(3200);
    // About once per interval each: a 3.2 s window holds two or three rounds.
    expect(Math.min(...perClient)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...perClient)).toBeLessThanOrEqual(4);
    // 30 sockets at 1 s: a 100 ms tick pings 3 of them. A sweep would put all 30 in one bin.
    const bins = new Map<number, number>();
    for (const at of pings) bins.set(Math.floor(at / 100), (bins.get(Math.floor(at / 100)) ?? 0) + 1);
    expect(Math.max(...bins.values())).toBeLessThanOrEqual(15);
    expect(bins.size).toBeGreaterThanOrEqual(10);
    expect((await readHealth(running.http)).active_connections).toBe(30);
    for (const client of clients) client.send('{}');
    for (const client of clients) expect(await client.nextJson()).toEqual(ACK);
    for (const client of clients) client.close();
    await expectServed(running.ws('/ws/behaviour'));
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

// Stalled readers, pongs, hosts, the exposure warning, IPv6, nested paths ---------------------

/** The exit code, or 'still running' after `ms` (the timer does not keep jest waiting). */
function exitWithin(service: Service, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  return Promise.race([service.exited, late]).finally(() => clearTimeout(timer));
}

/** Polls /health until total_messages has not moved for `quietMs`: the server stopped reading. */
async function untilQuiet(base: string, quietMs: number): Promise<void> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const { total_messages } = await readHealth(base);
    if (total_messages !== last) {
      last = total_messages;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await sleep(50);
  }
}

describe('Clients that stop reading (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      CLIENT_MAX_BUFFER_BYTES: '1024',
      CLIENT_STALL_TIMEOUT_MS: '300',
      HEARTBEAT_INTERVAL_MS: '0',
    });
  });
  afterAll(() => running.close());

  it('closes a client that leaves its acks unread past CLIENT_STALL_TIMEOUT_MS with 1008', async () => {
    const socket = await rawWebSocket(running.port, '/ws/behaviour');
    socket.pause();
    const one = frame({ opcode: 0x1, payload: '{}' });
    socket.write(Buffer.concat(Array.from({ length: 100_000 }, () => one)));
    // The server stops reading once its queue of acks is full; 300 ms later it closes the socket.
    await untilQuiet(running.http, 400);
    expect(await closeCode(socket, 10_000)).toBe(1008);
    socket.destroy();
    await waitForHealth(running.http, (h) => h.active_connections === 0);
    await expectServed(running.ws('/ws/behaviour'));
  });
});

describe('A client that reads slowly (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    // Long enough for the kernel to report the socket writable again at this pace: it waits for a
    // third of its send buffer (up to 4 MB here) to free up before the server may write more.
    running = await startApp({
      CLIENT_MAX_BUFFER_BYTES: '1024',
      CLIENT_STALL_TIMEOUT_MS: '3000',
      HEARTBEAT_INTERVAL_MS: '0',
    });
  });
  afterAll(() => running.close());

  it('keeps a client that reads slowly but does read', async () => {
    // 100,000 acks (about 7.6 MB) are more than the kernel's buffers hold, so the server's queue
    // passes CLIENT_MAX_BUFFER_BYTES and it stops reading; the client reads 16 KiB every 10 ms
    // (about 1.6 MB/s), each pause shorter than CLIENT_STALL_TIMEOUT_MS, and must get every ack.
    const frames = 100_000;
    const socket = await rawWebSocket(running.port, '/ws/behaviour');
    socket.pause();
    const one = frame({ opcode: 0x1, payload: '{}' });
    socket.write(Buffer.concat(Array.from({ length: frames }, () => one)));
    let acks = 0;
    let closed = false;
    let pending = Buffer.alloc(0);
    socket.once('close', () => (closed = true));
    while (acks < frames && !closed) {
      await sleep(10);
      const chunk = socket.read(Math.min(16 * 1024, socket.readableLength)) as Buffer | null;
      if (chunk === null) {
        socket.read(0);
        continue;
      }
      pending = Buffer.concat([pending, chunk]);
      // Server frames: unmasked, acks shorter than 126 bytes; a close frame ends the loop.
      while (pending.length >= 2 && pending.length >= 2 + (pending[1] & 0x7f)) {
        if ((pending[0] & 0x0f) === 0x8) closed = true;
        else acks++;
        pending = pending.subarray(2 + (pending[1] & 0x7f));
      }
    }
    expect({ acks, closed }).toEqual({ acks: frames, closed: false });
    socket.destroy();
    await expectServed(running.ws('/ws/behaviour'));
  }, 60_000);
});

describe('Heartbeats and unsolicited pongs (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ HEARTBEAT_INTERVAL_MS: '300' });
  });
  afterAll(() => running.close());

  it('drops a client that never answers pings even though it sends pongs of its own', async () => {
    const faker = await WsClient.open(running.ws('/ws/behaviour'), { autoPong: false });
    const live = await WsClient.open(running.ws('/ws/behaviour'));
    const pongs = setInterval(() => {
      if (faker.socket.readyState === WebSocket.OPEN) faker.socket.pong('unsolicited');
    }, 50);
    try {
      expect((await faker.waitClosed(3000)).code).toBe(1006);
    } finally {
      clearInterval(pongs);
    }
    live.send('{}');
    expect(await live.nextJson()).toEqual(ACK);
    live.close();
    await expectServed(running.ws('/ws/behaviour'));
  });
});

describe('ALLOWED_HOSTS and origins (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ ALLOWED_HOSTS: 'Monitor.Example.com,127.0.0.1' });
  });
  afterAll(() => running.close());

  const get = async (path: string, host: string) => {
    const res = await rawRequest(
      running.port,
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    res.socket.destroy();
    return res.status;
  };
  const upgrade = async (path: string, headers: Record<string, string>) => {
    const res = await rawRequest(running.port, upgradeRequest(path, headers));
    res.socket.destroy();
    return res.status;
  };

  it.each([
    ['/health', 421],
    ['/', 421],
    ['/event-flow-map', 421],
    ['/metrics', 421],
    ['/ws/monitor', 421],
  ])('answers GET %s for a rebound Host with %d', async (path, status) => {
    expect(await get(path, 'rebound.attacker.example')).toBe(status);
  });

  it('serves listed hosts on any port, in any case', async () => {
    expect(await get('/health', 'monitor.example.com')).toBe(200);
    expect(await get('/health', 'MONITOR.example.com:8443')).toBe(200);
    expect(await get('/health', `127.0.0.1:${running.port}`)).toBe(200);
  });

  it('refuses upgrades for an unlisted Host with 421 on both endpoints, even with a matching Origin', async () => {
    const rebound = { Host: 'rebound.attacker.example:8000', Origin: 'http://rebound.attacker.example:8000' };
    expect(await upgrade('/ws/monitor', rebound)).toBe(421);
    expect(await upgrade('/ws/behaviour', rebound)).toBe(421);
    expect(
      await upgrade('/ws/monitor', { Host: 'monitor.example.com', Origin: 'https://monitor.example.com' }),
    ).toBe(101);
    await expectServed(running.ws('/ws/behaviour'));
  });

  it('compares origins after normalising scheme and host case and default ports', async () => {
    const host = 'monitor.example.com';
    expect(await upgrade('/ws/monitor', { Host: host, Origin: 'HTTPS://Monitor.Example.COM:443' })).toBe(101);
    expect(await upgrade('/ws/monitor', { Host: host, Origin: 'http://monitor.example.com:80' })).toBe(101);
    expect(await upgrade('/ws/monitor', { Host: host, Origin: 'https://monitor.example.com:8443' })).toBe(
      403,
    );
    expect(await upgrade('/ws/monitor', { Host: host, Origin: 'null' })).toBe(403);
  });
});

describe('Host with a port behind a proxy (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ ALLOWED_ORIGINS: 'https://ops.example.com' });
  });
  afterAll(() => running.close());

  const upgrade = async (headers: Record<string, string>) => {
    const res = await rawRequest(running.port, upgradeRequest('/ws/monitor', headers));
    res.socket.destroy();
    return res.status;
  };

  it('lets the page watch when the proxy passes the Host with its port ($http_host), and not when it drops it ($host)', async () => {
    const origin = 'http://cbsa.internal:8080';
    expect(await upgrade({ Host: 'cbsa.internal:8080', Origin: origin })).toBe(101);
    expect(await upgrade({ Host: 'cbsa.internal', Origin: origin })).toBe(403);
    expect(await upgrade({ Host: 'CBSA.internal:8080', Origin: 'HTTP://cbsa.internal:8080' })).toBe(101);
    expect(await upgrade({ Host: 'cbsa.internal', Origin: 'https://OPS.example.com:443' })).toBe(101);
    await expectServed(running.ws('/ws/behaviour'));
  });
});

describe('Startup warning for an exposed monitor (e2e, production build)', () => {
  const warning = (port: number) => (l: LogLine) =>
    l.level === 40 && /neither MONITOR_TOKEN nor ALLOWED_HOSTS/.test(l.msg) && port > 0;

  it('warns once when bound to 0.0.0.0 with no MONITOR_TOKEN and no ALLOWED_HOSTS', async () => {
    const service = new Service({ HOST: '0.0.0.0' });
    try {
      const port = await service.port();
      const line = await service.waitForLine(warning(port));
      expect(line.msg).toBe(
        'HOST=0.0.0.0 is reachable from the network and neither MONITOR_TOKEN nor ALLOWED_HOSTS is set: ' +
          "anyone who can reach this port can watch every event's data on /ws/monitor, including a web page " +
          'in a browser on your network through DNS rebinding. Set MONITOR_TOKEN, or ALLOWED_HOSTS to the ' +
          'names this service is reached by.',
      );
      expect(service.lines().filter(warning(port))).toHaveLength(1);
      await expectServed(`ws://127.0.0.1:${port}/ws/behaviour`);
    } finally {
      await service.stop();
    }
  }, 30_000);

  it('stays quiet with ALLOWED_HOSTS set, or on loopback', async () => {
    const envs: Record<string, string>[] = [
      { HOST: '0.0.0.0', ALLOWED_HOSTS: '127.0.0.1' },
      { HOST: '127.0.0.1' },
    ];
    for (const env of envs) {
      const service = new Service(env);
      try {
        const port = await service.port();
        await expectServed(`ws://127.0.0.1:${port}/ws/behaviour`);
        expect(service.lines().filter(warning(port))).toEqual([]);
      } finally {
        await service.stop();
      }
    }
  }, 30_000);
});

describe('IPv6 clients and the per-address cap (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ HOST: '::1', MAX_CONNECTIONS_PER_IP: '2' });
  });
  afterAll(() => running.close());

  it('counts an IPv6 client under its /64 and refuses the third with 429', async () => {
    const url = `ws://[::1]:${running.port}/ws/behaviour`;
    const mine = await Promise.all([1, 2].map(() => WsClient.open(url)));
    expect(await upgradeStatus(url)).toBe(429);
    mine[0].close();
    await waitForHealth(`http://[::1]:${running.port}`, (h) => h.active_connections === 1);
    await expectServed(url);
    mine[1].close();
  });
});

/** The primary's fatal line; workers that fail early also print Nest's own non-JSON lines. */
function fatalLine(service: Service): LogLine | undefined {
  return service.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
    .find((l) => l.level === 60);
}

describeWithRedis('Machine-wide caps and failing workers (e2e, WORKERS=2)', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());

  it('holds MAX_CONNECTIONS and MAX_CONNECTIONS_PER_IP for the machine, not per worker', async () => {
    const service = new Service({
      REDIS_URL: redis.url,
      WORKERS: '2',
      MAX_CONNECTIONS: '4',
      MAX_CONNECTIONS_PER_IP: '3',
    });
    try {
      // Workers boot slowly on a busy machine: wait for both.
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
      const mine = await Promise.all([1, 2, 3].map(() => WsClient.open(url)));
      // Without the primary's count, one of the two workers would take a 4th (and 5th, 6th).
      for (let i = 0; i < 4; i++) expect(await upgradeStatus(url)).toBe(429);
      const other = await WsClient.open(url, { localAddress: '127.0.0.2' });
      other.send('[]');
      expect(await other.nextJson()).toEqual(ACK);
      for (let i = 0; i < 4; i++) expect(await upgradeStatus(url, { localAddress: '127.0.0.3' })).toBe(503);
      mine[0].close();
      await mine[0].closed;
      const back = Date.now() + 5000;
      while ((await upgradeStatus(url)) !== 101 && Date.now() < back) await sleep(50);
      [...mine, other].forEach((c) => c.close());
      await sleep(200);
      await expectServed(url);
    } finally {
      await service.stop();
    }
  }, 60_000);

  it.each([
    [
      'a bad FLOW_MAP_FILE',
      { FLOW_MAP_FILE: '/nonexistent/map.json' },
      /\/nonexistent\/map.json: cannot be read/,
    ],
  ])(
    "exits non-zero, with the workers' error, when workers keep failing before ready: %s",
    async (_name, env, error) => {
      const service = new Service({ REDIS_URL: redis.url, WORKERS: '2', LOG_LEVEL: 'ERROR', ...env });
      const code = await exitWithin(service, 100_000);
      if (code === 'still running') await service.stop();
      expect(code).toBe(1);
      const fatal = fatalLine(service);
      expect(fatal).toMatchObject({ failed_starts: 5, err: expect.stringMatching(error) as unknown });
      expect(fatal?.msg).toMatch(
        /^5 workers in a row failed before they could serve; exiting\. Last error: /,
      );
    },
    120_000,
  );

  it('cancels a pending worker restart on shutdown', async () => {
    const service = new Service({ REDIS_URL: redis.url, WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '6000' });
    try {
      const first = await service.waitForLine((l) => / listening on /.test(l.msg), 45_000);
      const port = Number(/:(\d+) /.exec(first.msg)![1]);
      const listening = () => service.lines().filter((l) => / listening on /.test(l.msg));
      const deadline = Date.now() + 45_000;
      while (listening().length < 2 && Date.now() < deadline) await sleep(50);
      // Sockets that never answer the close frame keep the surviving worker's shutdown busy ~2 s,
      // well past the 500 ms restart delay.
      const stuck = await Promise.all([1, 2, 3, 4].map(() => rawWebSocket(port, '/ws/behaviour')));
      stuck.forEach((s) => s.pause());
      process.kill(listening()[0].pid as number, 'SIGKILL');
      await service.waitForLine((l) => /^Worker \d+ died/.test(l.msg));
      service.proc.kill('SIGTERM');
      expect(await exitWithin(service, 30_000)).toBe(0);
      const msgs = service.lines().map((l) => l.msg);
      const shutdownAt = msgs.findIndex((m) => /^Shutting down/.test(m));
      expect(shutdownAt).toBeGreaterThan(0);
      expect(msgs.slice(shutdownAt).filter((m) => /^Worker \d+ started/.test(m))).toEqual([]);
      expect(msgs.filter((m) => /^Worker \d+ started/.test(m))).toHaveLength(2);
      stuck.forEach((s) => s.destroy());
    } finally {
      if (service.proc.exitCode === null) await service.stop();
    }
  }, 120_000);

  it('exits non-zero before forking when the port is taken (EADDRINUSE), rather than sharing it', async () => {
    // Held as another cluster's worker holds it: with SO_REUSEPORT, which our workers could join unnoticed.
    const blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen({ port: 0, host: '127.0.0.1', reusePort: true }, () =>
        resolve((blocker.address() as AddressInfo).port),
      ),
    );
    const service = new Service({ REDIS_URL: redis.url, WORKERS: '2', PORT: String(port) });
    try {
      const code = await exitWithin(service, 100_000);
      if (code === 'still running') await service.stop();
      expect(code).toBe(1);
      expect(service.stderr).toContain(
        `CBSA failed to start: listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
      );
      expect(service.lines().filter((l) => /^Worker \d+ started/.test(l.msg))).toEqual([]);
    } finally {
      blocker.close();
    }
  }, 120_000);
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
    const client = await WsClient.open(running.ws('/ws'));
    client.send('{"type":"click"}');
    expect(await client.nextJson()).toEqual(ACK);
    client.close();
  });
});
