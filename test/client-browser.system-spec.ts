// The built @cbsa/client in Chromium (playwright-core), on the browser's own WebSocket and
// IndexedDB, against the production build with SINK=redis-stream: 1,000 events exactly once across
// a server-side disconnect (kill -9 and restart), then a queue kept in IndexedDB across a page reload.
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type * as Sdk from '../client/src/index.js';
import { describeWithBrowser, launchChromium, watchErrors } from './support/browser.js';
import { freePort } from '../harness/process.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { CLIENT_DIST, range, readLog } from './support/sdk.js';
import { Service } from '../harness/service.mjs';
import { TcpProxy } from './support/tcp-proxy.js';
import { FakeServer } from '../client/test/fake-server.js';

const PAGE = `<!doctype html><meta charset="utf-8"><title>SDK test</title>
<script type="module">import * as sdk from './dist/index.js'; window.sdk = sdk;</script>`;

interface PageGlobals {
  sdk?: typeof Sdk;
  client: Sdk.CbsaClient;
  drops: Sdk.Drop[];
  statuses: { status: string; at: number }[];
}

describeWithBrowser('@cbsa/client in Chromium (e2e)', () => {
  let browser: Browser;
  let redis: RedisServer;
  let service: Service;
  let port: number;
  let pages: Server;
  let pageOrigin: string;

  const startService = async () => {
    service = new Service({ PORT: String(port), SINK: 'redis-stream', REDIS_URL: redis.url });
    await service.waitForLine((l) => / listening on /.test(l.msg), 60_000); // slow on a busy machine
  };

  /** The test page on its own origin (a static server on another port), loading client/dist. */
  async function openPage(context?: BrowserContext): Promise<{ page: Page; errors: string[] }> {
    const page = await (context ?? browser).newPage();
    const errors = watchErrors(page);
    await page.goto(`${pageOrigin}/index.html`);
    await page.waitForFunction(() => (window as unknown as PageGlobals).sdk !== undefined);
    return { page, errors };
  }

  beforeAll(async () => {
    [browser, redis, port] = await Promise.all([launchChromium(), RedisServer.start(), freePort()]);
    pages = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/index.html') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      const name = /^\/dist\/([\w.-]+\.js)$/.exec(path)?.[1];
      if (!name) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(CLIENT_DIST, name)));
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    await startService();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    pages?.close();
    if (service && service.proc.exitCode === null && service.proc.signalCode === null) await service.stop();
    await redis?.stop();
  });

  it('delivers 1,000 events exactly once across a server-side disconnect, and keeps its queue in IndexedDB', async () => {
    const { page, errors } = await openPage();
    const url = `ws://127.0.0.1:${port}/ws/behaviour`;
    const stream = await page.evaluate(async (url) => {
      const w = window as unknown as PageGlobals;
      w.drops = [];
      w.client = new w.sdk!.CbsaClient({
        url,
        storage: new w.sdk!.IndexedDBStorage('cbsa-e2e'),
        minDelay: 50,
        maxDelay: 500,
        onDrop: (d) => w.drops.push(d),
      });
      await w.client.ready;
      for (let n = 1; n <= 500; n++) {
        void w.client.send({ event_type: 'tap', n });
        if (n % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return w.client.streamId;
    }, url);
    // Pull the plug once part of the stream is acked, send the second half while the service is down
    // (so the disconnect always falls inside the stream, however fast the first half was acked),
    // then bring the service back.
    await page.waitForFunction(() => (window as unknown as PageGlobals).client.stats.acked >= 200);
    service.proc.kill('SIGKILL');
    await service.exited;
    await page.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      for (let n = 501; n <= 1000; n++) {
        await w.client.send({ event_type: 'tap', n });
      }
    });
    await startService();
    const result = await page.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      const flushed = await w.client.flush(60_000);
      return { flushed, stats: w.client.stats, drops: w.drops };
    });
    expect(result.flushed).toBe(true);
    expect(result.drops).toEqual([]);
    expect(result.stats).toMatchObject({ queued: 0, inflight: 0, acked: 1000, dropped: 0, lastSeq: 1000 });
    expect(result.stats.reconnects).toBeGreaterThanOrEqual(1);
    let entries = (await readLog(redis.url)).get(stream)!;
    expect(entries.map((e) => e.seq)).toEqual(range(1, 1000));
    expect(entries.map((e) => (JSON.parse(e.data) as { n: number }).n)).toEqual(range(1, 1000));

    // Offline: 10 more events wait in IndexedDB; the page is reloaded (an app restart) before they go.
    await service.stop();
    await page.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      for (let n = 1001; n <= 1010; n++) await w.client.send({ event_type: 'tap', n });
      await w.client.close(100);
    });
    await page.reload();
    await page.waitForFunction(() => (window as unknown as PageGlobals).sdk !== undefined);
    await startService();
    const after = await page.evaluate(async (url) => {
      const w = window as unknown as PageGlobals;
      w.client = new w.sdk!.CbsaClient({
        url,
        storage: new w.sdk!.IndexedDBStorage('cbsa-e2e'),
        minDelay: 50,
      });
      await w.client.ready;
      const queued = w.client.stats.queued;
      const seq = await w.client.send({ event_type: 'tap', n: 1011 });
      const flushed = await w.client.flush(30_000);
      await w.client.close();
      return { stream: w.client.streamId, queued, seq, flushed };
    }, url);
    expect(after).toEqual({ stream, queued: 10, seq: 1011, flushed: true });
    entries = (await readLog(redis.url)).get(stream)!;
    expect(entries.map((e) => e.seq)).toEqual(range(1, 1011));
    expect(entries.map((e) => (JSON.parse(e.data) as { n: number }).n)).toEqual(range(1, 1011));
    // Chromium logs each refused connection while the service is down; no exception may escape the SDK.
    expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
    await page.close();
  }, 180_000);
  it("gives each tab its own stream on one IndexedDB, and a closed tab's queue is finished by the next tab", async () => {
    const context = await browser.newContext();
    const proxy = await TcpProxy.start(port);
    const url = `ws://127.0.0.1:${proxy.port}/ws/behaviour`;
    const start = (page: Page, tab: string, events: number) =>
      page.evaluate(
        async ({ url, tab, events }) => {
          const w = window as unknown as PageGlobals;
          w.client = new w.sdk!.CbsaClient({
            url,
            storage: new w.sdk!.IndexedDBStorage('cbsa-tabs'),
            minDelay: 50,
            maxDelay: 500,
          });
          for (let n = 1; n <= events; n++) await w.client.send({ tab, n });
          return w.client.streamId;
        },
        { url, tab, events },
      );
    const flush = (page: Page) =>
      page.evaluate(() => (window as unknown as PageGlobals).client.flush(30_000));
    try {
      const [a, b] = [await openPage(context), await openPage(context)];
      const [streamA, streamB] = await Promise.all([start(a.page, 'a', 20), start(b.page, 'b', 20)]);
      expect(streamA).not.toBe(streamB);
      expect(await Promise.all([flush(a.page), flush(b.page)])).toEqual([true, true]);
      // The service goes away; tab b queues 5 more events (written to IndexedDB) and is closed.
      proxy.down = true;
      proxy.severAll();
      await b.page.evaluate(async () => {
        const w = window as unknown as PageGlobals;
        for (let n = 21; n <= 25; n++) await w.client.send({ tab: 'b', n });
      });
      await b.page.close();
      proxy.down = false;
      const c = await openPage(context);
      const streamC = await start(c.page, 'c', 1);
      expect(streamC).toBe(streamB); // the free stream with a queue, under its own id
      expect(await flush(c.page)).toBe(true);
      expect(await flush(a.page)).toBe(true);
      const log = await readLog(redis.url);
      const of = (stream: string) =>
        log.get(stream)!.map((e) => JSON.parse(e.data) as { seq: number; tab: string; n: number });
      expect(of(streamA).map((e) => [e.seq, e.tab, e.n])).toEqual(range(1, 20).map((n) => [n, 'a', n]));
      expect(of(streamB).map((e) => [e.seq, e.tab, e.n])).toEqual([
        ...range(1, 25).map((n) => [n, 'b', n]),
        [26, 'c', 1],
      ]);
      expect([...a.errors, ...c.errors].filter((e) => e.startsWith('pageerror'))).toEqual([]);
    } finally {
      await proxy.close();
      await context.close();
    }
  }, 120_000);

  it('reconnect time after a 2 s outage, with the default backoff (measured and reported)', async () => {
    const proxy = await TcpProxy.start(port);
    const context = await browser.newContext();
    const took: number[] = [];
    try {
      const { page } = await openPage(context);
      await page.evaluate(async (url) => {
        const w = window as unknown as PageGlobals;
        w.statuses = [];
        w.client = new w.sdk!.CbsaClient({
          url,
          onStatus: (status) => w.statuses.push({ status, at: Date.now() }),
        });
        await w.client.send({ n: 0 });
        await w.client.flush(10_000);
      }, `ws://127.0.0.1:${proxy.port}/ws/behaviour`);
      for (let round = 1; round <= 3; round++) {
        proxy.down = true;
        proxy.severAll();
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        await page.evaluate((n) => (window as unknown as PageGlobals).client.send({ n }), round);
        proxy.down = false;
        const back = Date.now();
        const connected = await page.evaluate(async (back) => {
          const w = window as unknown as PageGlobals;
          await w.client.flush(30_000);
          return w.statuses.find((s) => s.status === 'connected' && s.at >= back)?.at;
        }, back);
        took.push(connected! - back);
      }
    } finally {
      await proxy.close();
      await context.close();
    }
    console.log(`browser: reconnect after a 2 s outage: ${took.join(', ')} ms`);
    expect(took).toHaveLength(3);
  }, 60_000);

  it('sends its token as the cbsa.bearer. subprotocol, never in the URL, and reconnects at once on "online"', async () => {
    const fake = await FakeServer.start();
    fake.token = 'browser-token-0001';
    const context = await browser.newContext();
    try {
      const { page } = await openPage(context);
      const stream = await page.evaluate(async (url) => {
        const w = window as unknown as PageGlobals;
        w.client = new w.sdk!.CbsaClient({
          url,
          token: 'browser-token-0001',
          minDelay: 60_000,
          maxDelay: 60_000,
        });
        await w.client.send({ n: 1 });
        await w.client.flush(10_000);
        return w.client.streamId;
      }, fake.url);
      expect(fake.upgrades).toEqual([
        { via: 'subprotocol', token: 'browser-token-0001', url: `/ws/behaviour?stream=${stream}` },
      ]);
      // Cut; the next try is up to a minute away, but the network coming back starts one at once.
      fake.dropAll();
      await page.waitForFunction(() => (window as unknown as PageGlobals).client.stats.status === 'offline');
      await context.setOffline(true);
      await context.setOffline(false);
      await page.waitForFunction(
        () => (window as unknown as PageGlobals).client.stats.status === 'connected',
        undefined,
        {
          timeout: 10_000,
        },
      );
      expect(fake.connections).toBe(2);
    } finally {
      await context.close();
      await fake.close();
    }
  }, 60_000);
});
