// CBSA embedded in a host Nest application, from the packed package: `npm pack` of this repository,
// laid out in a temporary node_modules as npm installs it (its dependencies are this repository's,
// linked, so no registry is needed). The host (test/fixtures/embed-host/host.mjs) keeps its own
// routes, logger, headers and gateway; CBSA answers under /cbsa; SIGTERM drains it with 1001.
import { Redis } from 'ioredis';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../src/config/env.js';
import { chromiumPath, launchChromium } from './support/browser.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { WsClient } from '../harness/ws-client.mjs';
import { sleep } from '../harness/wait.mjs';

const run = promisify(execFile);

/** `npm pack`, then the tarball's files under node_modules/cbsa, beside links to every dependency. */
async function installPacked(dir: string): Promise<void> {
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: PACKAGE_ROOT });
  const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'))!;
  const target = join(dir, 'node_modules', 'cbsa');
  await mkdir(target, { recursive: true });
  await run('tar', ['-xzf', join(dir, tarball), '-C', target, '--strip-components=1']);
  for (const entry of await readdir(join(PACKAGE_ROOT, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'cbsa') continue;
    await symlink(join(PACKAGE_ROOT, 'node_modules', entry), join(dir, 'node_modules', entry));
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module' }));
  await copyFile(join(PACKAGE_ROOT, 'test', 'fixtures', 'embed-host', 'host.mjs'), join(dir, 'host.mjs'));
}

interface HostLine {
  /** The host's ConsoleLogger writes its level as a word; pino as a number. */
  level?: string | number;
  req?: { url?: string };
  context?: string;
  message?: unknown;
  host_listening?: number;
  msg?: string;
}

class Host {
  readonly proc: ChildProcess;
  stdout = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(dir: string, options: Record<string, unknown> = {}, listen = '127.0.0.1') {
    this.proc = spawn(process.execPath, ['host.mjs'], {
      cwd: dir,
      env: { PATH: process.env.PATH, CBSA_OPTIONS: JSON.stringify(options), HOST_LISTEN: listen },
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  lines(): HostLine[] {
    return this.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as HostLine;
        } catch {
          return { msg: l };
        }
      });
  }

  async waitForLine(predicate: (line: HostLine) => boolean, timeout = 30_000): Promise<HostLine> {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const line = this.lines().find(predicate);
      if (line) return line;
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`no such line; output:\n${this.stdout}`);
  }
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cbsa-host-'));
  await installPacked(dir);
}, 60_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

/** Starts the host and waits for it to listen; its base URLs for HTTP and WebSocket. */
async function startHost(
  options: Record<string, unknown>,
  listen?: string,
): Promise<{ host: Host; http: string; ws: string }> {
  const host = new Host(dir, options, listen);
  const port = (await host.waitForLine((l) => l.host_listening !== undefined, 60_000)).host_listening!;
  return { host, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

describe('CbsaModule in a host application, from the packed package (e2e)', () => {
  let host: Host;
  let http: string;
  let ws: string;

  beforeAll(async () => {
    ({ host, http, ws } = await startHost({ monitorFlushMs: 10, logLevel: 'info' }));
  }, 120_000);

  afterAll(async () => {
    host?.proc.kill('SIGKILL');
    await host?.exited;
  });

  it("leaves the host's own routes and headers alone", async () => {
    const root = await fetch(`${http}/`);
    expect(root.status).toBe(200);
    expect(await root.json()).toEqual({ app: 'host', page: 'home' });
    // Express's default, which the host did not turn off: CBSA does not decide it for the host.
    expect(root.headers.get('x-powered-by')).toBe('Express');
    const health = await fetch(`${http}/health`);
    expect(await health.json()).toEqual({ app: 'host', healthy: true });
    expect((await fetch(`${http}/nope`)).status).toBe(404);
  });

  it('serves every CBSA endpoint under /cbsa, without X-Powered-By', async () => {
    const redirect = await fetch(`${http}/cbsa`, { redirect: 'manual' });
    expect({ status: redirect.status, location: redirect.headers.get('location') }).toEqual({
      status: 308,
      location: '/cbsa/',
    });
    const page = await fetch(`${http}/cbsa/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>');
    const health = await fetch(`${http}/cbsa/health`);
    expect(await health.json()).toEqual(expect.objectContaining({ status: 'ok', active_connections: 0 }));
    for (const path of [
      '/cbsa/health/live',
      '/cbsa/health/ready',
      '/cbsa/event-flow-map',
      '/cbsa/vendor/uplot/uPlot.esm.js',
    ]) {
      const res = await fetch(`${http}${path}`);
      expect({ path, status: res.status, poweredBy: res.headers.get('x-powered-by') }).toEqual({
        path,
        status: 200,
        poweredBy: null,
      });
    }
    // Below the base path: the page resolves them against its own URL, /cbsa/.
    expect(await (await fetch(`${http}/cbsa/config.json`)).json()).toEqual({
      ingest_endpoint: '/ws/behaviour',
      monitor_endpoint: '/ws/monitor',
      flow_map: '/event-flow-map',
    });
    expect(await (await fetch(`${http}/cbsa/metrics`)).text()).toMatch(/^cbsa_/m);
    expect((await fetch(`${http}/cbsa/ws/monitor`)).status).toBe(426);
    // The document names CBSA's endpoints only, relative to its server /cbsa.
    const doc = (await (await fetch(`${http}/cbsa/openapi.json`)).json()) as {
      servers: unknown;
      paths: object;
    };
    expect(doc.servers).toEqual([{ url: '/cbsa', description: 'This service' }]);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/config.json',
      '/event-flow-map',
      '/health',
      '/health/live',
      '/health/ready',
      '/metrics',
      '/ws/behaviour',
      '/ws/monitor',
    ]);
  });

  it('keeps the ingest contract exactly, and a monitor sees the event', async () => {
    const monitor = await WsClient.open(`${ws}/cbsa/ws/monitor`);
    const hello = await monitor.nextJson<{ type: string; endpoints: unknown }>();
    expect(hello.type).toBe('hello');
    expect(hello.endpoints).toEqual({
      ingest: '/cbsa/ws/behaviour',
      monitor: '/cbsa/ws/monitor',
      flow_map: '/cbsa/event-flow-map',
    });
    const client = await WsClient.open(`${ws}/cbsa/ws/behaviour`);
    client.send('{"event":"page_view","embedded":true}');
    expect(await client.next()).toMatch(
      /^\{"status":"received","server_timestamp":\d+\.\d{3},"message_id":1\}$/,
    );
    client.send('{nope');
    expect(await client.nextJson()).toEqual({ status: 'error', message: 'Malformed JSON' });
    let seen: unknown[] = [];
    while (!seen.some((e) => (e as { message_id: unknown }).message_id === 1)) {
      const frame = await monitor.nextJson<{ type: string; events?: unknown[] }>();
      if (frame.type === 'events') seen = [...seen, ...frame.events!];
    }
    expect(seen).toContainEqual(
      expect.objectContaining({
        message_id: 1,
        status: 'received',
        data: { event: 'page_view', embedded: true },
      }),
    );
    client.socket.close();
    monitor.socket.close();
    await Promise.all([client.closed, monitor.closed]);
  });

  // Only where a Chromium is found (the browser suites say how to get one).
  (chromiumPath ? it : it.skip)(
    'serves the monitor page under /cbsa/, which connects and shows events',
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(`${http}/cbsa/`, { waitUntil: 'load' });
        await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
          timeout: 10_000,
        });
        const client = await WsClient.open(`${ws}/cbsa/ws/behaviour`);
        client.send('{"event":"seen_by_page","user_id":"embedded-user"}');
        await client.nextJson();
        await page.waitForSelector('[data-testid="feed-row"] [data-col="user"]:text-is("embedded-user")', {
          timeout: 10_000,
        });
        client.socket.close();
      } finally {
        await browser.close();
      }
    },
    30_000,
  );

  it("serves the host's own gateway on /host-ws as Nest's WsAdapter would", async () => {
    const client = await WsClient.open(`${ws}/host-ws`);
    client.send(JSON.stringify({ event: 'echo', data: 'hello host' }));
    expect(await client.nextJson()).toEqual({ event: 'echo', data: 'hello host' });
    client.socket.close();
    await client.closed;
  });

  it("logs through the host's Nest logger: every line is the host's JSON format, CBSA's among them", () => {
    const lines = host.lines().filter((l) => l.host_listening === undefined);
    expect(lines.filter((l) => l.msg !== undefined)).toEqual([]);
    expect(lines.filter((l) => typeof l.level !== 'string' || l.message === undefined)).toEqual([]);
    expect(lines.map((l) => l.context)).toEqual(expect.arrayContaining(['OpenFiles', 'MonitorGateway']));
    // The host listens on 127.0.0.1: no exposure warning, though HOST's default is 0.0.0.0.
    expect(lines.filter((l) => l.context === 'Security')).toEqual([]);
  });

  it("drains CBSA with 1001 on SIGTERM, through the host's enableShutdownHooks", async () => {
    const client = await WsClient.open(`${ws}/cbsa/ws/behaviour`);
    client.send('{"event":"before_shutdown"}');
    expect(await client.nextJson()).toEqual(expect.objectContaining({ status: 'received' }));
    host.proc.kill('SIGTERM');
    expect(await client.closed).toEqual({ code: 1001, reason: 'Server shutting down' });
    // Nest's shutdown hooks re-raise the signal once the app has closed.
    expect(await host.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(host.lines().map((l) => l.message)).toContainEqual(
      expect.stringMatching(/^Closed 1 sockets with 1001/),
    );
  }, 30_000);
});

describe("CbsaModule in a host application, with logger: 'pino' (e2e)", () => {
  it("writes CBSA's own JSON lines, logging CBSA's requests and never the host's", async () => {
    // Listening on every interface with the monitor open: the warning names the address really bound.
    const { host, http } = await startHost({ logger: 'pino' }, '0.0.0.0');
    try {
      expect((await fetch(`${http}/`)).status).toBe(200);
      expect((await fetch(`${http}/cbsa/health`)).status).toBe(200);
      const requestLine = await host.waitForLine((l) => l.msg === 'request completed');
      expect(requestLine.req?.url).toBe('/cbsa/health');
      const lines = host.lines();
      // The host's logger still has the host's lines; CBSA's are pino's, with its context.
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'log', message: 'Nest application successfully started' }),
      );
      expect(lines).toContainEqual(expect.objectContaining({ level: 30, context: 'OpenFiles' }));
      expect(lines.filter((l) => l.msg === 'request completed').map((l) => l.req?.url)).toEqual([
        '/cbsa/health',
      ]);
      const port = new URL(http).port;
      const warning = await host.waitForLine((l) => l.context === 'Security');
      expect(warning.msg).toBe(
        `The application's server, listening on 0.0.0.0:${port}, is reachable from the network and neither ` +
          "MONITOR_TOKEN nor ALLOWED_HOSTS is set: anyone who can reach this port can watch every event's data " +
          'on /cbsa/ws/monitor, including a web page in a browser on your network through DNS rebinding. ' +
          'Set MONITOR_TOKEN, or ALLOWED_HOSTS to the names this service is reached by.',
      );
    } finally {
      host.proc.kill('SIGKILL');
      await host.exited;
    }
  }, 60_000);
});

describeWithRedis('CbsaModule in a host application, with the Redis stream sink (e2e)', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  }, 30_000);

  afterAll(() => redis?.stop());

  it('stores what it acks in the stream before the ack, and drains with 1001 on SIGTERM', async () => {
    const prefix = 'embedded:';
    const { host, ws } = await startHost({ sink: 'redis-stream', redisUrl: redis.url, redisPrefix: prefix });
    try {
      const client = await WsClient.open(`${ws}/cbsa/ws/behaviour`);
      const ids: number[] = [];
      for (let i = 0; i < 3; i++) {
        client.send(`{"event":"stored","n":${i}}`);
        ids.push((await client.nextJson<{ status: string; message_id: number }>()).message_id);
      }
      // The log itself, read back: every acked id, once, with the client's bytes.
      const reader = new Redis(redis.url);
      try {
        const entries = await reader.xrange(`${prefix}stream`, '-', '+');
        const stored = entries.map(([, list]) => {
          const fields: Record<string, string> = {};
          for (let i = 0; i < list.length; i += 2) fields[list[i]] = list[i + 1];
          return fields;
        });
        expect(stored.map((f) => Number(f.message_id))).toEqual(ids);
        expect(stored.map((f) => f.data)).toEqual([0, 1, 2].map((n) => `{"event":"stored","n":${n}}`));
      } finally {
        reader.disconnect();
      }
      host.proc.kill('SIGTERM');
      expect(await client.closed).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(await host.exited).toEqual({ code: null, signal: 'SIGTERM' });
    } finally {
      host.proc.kill('SIGKILL');
      await host.exited;
    }
  }, 60_000);
});
