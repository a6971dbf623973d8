/// <reference lib="dom" />
// The monitor page against the production build (dist/main.js): server counts from the first
// frame, replay rows on open, a custom MONITOR_ENDPOINT, the MAX_MONITORS cap and the origin check
// (behind a Host-rewriting proxy) explained in one line, and the instances strip with WORKERS=2 and
// Redis.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { describeWithBrowser, launchChromium, watchErrors } from './support/browser.js';
import { HostProxy } from './support/host-proxy.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { Instance } from '../harness/instance.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const UI_TIMEOUT = 8000;
// Screenshots go to test/artifacts/; with UPDATE_SCREENSHOTS=1 to docs/, for docs/monitor.md.
const DOCS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(import.meta.dirname, '..', 'docs')
    : join(import.meta.dirname, 'artifacts');

function start(env: Record<string, string>): Promise<Instance> {
  return Instance.start({ LOG_LEVEL: 'info', ...env });
}

async function sendAll(url: string, frames: string[]): Promise<(number | null)[]> {
  const client = await WsClient.open(url);
  const ids: (number | null)[] = [];
  for (const frame of frames) {
    client.send(frame);
    ids.push((await client.nextJson<{ message_id?: number }>()).message_id ?? null);
  }
  client.close();
  return ids;
}

async function nodeCounts(page: Page): Promise<Record<string, number>> {
  return page.$$eval('[data-testid="flow-node"]', (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.getAttribute('data-node-id') ?? '',
        Number(el.querySelector('[data-testid="node-count"]')?.getAttribute('data-count')),
      ]),
    ),
  );
}

async function waitForCounts(page: Page, expected: Record<string, number>): Promise<void> {
  await page
    .waitForFunction(
      (want) =>
        Object.entries(want).every(
          ([id, n]) =>
            Number(
              document
                .querySelector(`[data-node-id="${CSS.escape(id)}"] [data-testid="node-count"]`)
                ?.getAttribute('data-count'),
            ) === n,
        ),
      expected,
      { timeout: UI_TIMEOUT },
    )
    .catch(async () => {
      throw new Error(`counts ${JSON.stringify(await nodeCounts(page))}, wanted ${JSON.stringify(expected)}`);
    });
}

const connected = (page: Page) =>
  page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', { timeout: UI_TIMEOUT });

describeWithBrowser('Monitor page: server truth (browser e2e, production build)', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('a page opened after N events shows N on the right nodes, and the replayed rows; "since page opened" shows 0', async () => {
    const app = await start({ MONITOR_REPLAY: '200' });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    const errors = watchErrors(page);
    try {
      const ids = await sendAll(app.ws('/ws/behaviour'), [
        '{"event_type":"tap","user_id":"early","session_id":"s-early"}',
        '{"event_type":"tap","user_id":"early","session_id":"s-early"}',
        '{"event_type":"tap","user_id":"early","session_id":"s-early"}',
        '{"event_type":"keydown","user_id":"early","session_id":"s-early"}',
        '{not json',
      ]);
      await page.goto(app.http('/'));
      await connected(page);
      const all = {
        client: 5,
        ingest: 5,
        parse: 5,
        error: 1,
        classify: 4,
        touch: 3,
        gesture: 0,
        keystroke: 1,
        motion: 0,
        other: 0,
        stream: 4,
        ack: 4,
      };
      await waitForCounts(page, all);
      for (const id of ids.filter((i) => i !== null)) {
        await page.waitForSelector(`[data-testid="feed-row"][data-message-id="${id}"]`, {
          timeout: UI_TIMEOUT,
        });
      }
      await page.waitForSelector('[data-testid="session-row"][data-session-key="session:s-early"]', {
        timeout: UI_TIMEOUT,
      });
      mkdirSync(DOCS, { recursive: true });
      await page.screenshot({ path: join(DOCS, 'monitor-late-page.png'), animations: 'disabled' });

      await page.check('[data-testid="since-open"]');
      await waitForCounts(page, Object.fromEntries(Object.keys(all).map((k) => [k, 0])));
      await page.uncheck('[data-testid="since-open"]');
      await waitForCounts(page, all);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await app.service.stop();
    }
  }, 60_000);

  it('connects on a custom MONITOR_ENDPOINT and shows events', async () => {
    const app = await start({ MONITOR_ENDPOINT: '/custom/watch', WEBSOCKET_ENDPOINT: '/in' });
    const page = await browser.newPage();
    const errors = watchErrors(page);
    try {
      await page.goto(app.http('/'));
      await connected(page);
      const [id] = await sendAll(app.ws('/in'), ['{"event_type":"tap","user_id":"custom"}']);
      await page.waitForSelector(`[data-testid="feed-row"][data-message-id="${id}"]`, {
        timeout: UI_TIMEOUT,
      });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await app.service.stop();
    }
  }, 60_000);

  it('explains the MAX_MONITORS cap in one line, and connects once a monitor leaves', async () => {
    const app = await start({ MAX_MONITORS: '1' });
    const holder = await WsClient.open(app.ws('/ws/monitor'));
    const page = await browser.newPage();
    try {
      await page.goto(app.http('/'));
      const line = await page.waitForSelector('[data-testid="connection-error"][data-refusal="full"]', {
        timeout: UI_TIMEOUT,
      });
      expect(await line.textContent()).toBe(
        'Monitor cap reached (MAX_MONITORS), or the server is shutting down: retrying.',
      );
      holder.close();
      await connected(page);
      expect(await page.isHidden('[data-testid="connection-error"]')).toBe(true);
    } finally {
      holder.socket.terminate();
      await page.close();
      await app.service.stop();
    }
  }, 60_000);

  it('says in one line that the origin check refused it, behind a proxy that drops the port from Host', async () => {
    const app = await start({});
    const proxy = await HostProxy.start(app.port, 'cbsa.internal');
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${proxy.port}/`);
      const line = await page.waitForSelector('[data-testid="connection-error"][data-refusal="forbidden"]', {
        timeout: UI_TIMEOUT,
      });
      expect(await line.textContent()).toBe(
        "Refused by the origin check: add this page's origin to ALLOWED_ORIGINS.",
      );
    } finally {
      await page.close();
      await proxy.stop();
      await app.service.stop();
    }
  }, 60_000);

  it('says "server down" in one line when nothing answers', async () => {
    const app = await start({});
    const page = await browser.newPage();
    try {
      await page.goto(app.http('/'));
      await connected(page);
      await app.service.stop();
      const line = await page.waitForSelector('[data-testid="connection-error"][data-refusal="down"]', {
        timeout: 15_000,
      });
      expect(await line.textContent()).toBe('Server down or unreachable: retrying.');
    } finally {
      await page.close();
    }
  }, 60_000);

  it('asks for a sample by default, and following a session reconnects with an exact server filter', async () => {
    const app = await start({});
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    try {
      await page.goto(app.http('/'));
      await connected(page);
      expect(await page.getAttribute('[data-testid="feed-mode"]', 'data-mode')).toBe('sample');
      expect(new URL(sockets[0]).searchParams.get('sample')).toBe('300');
      await sendAll(app.ws('/ws/behaviour'), ['{"event_type":"tap","user_id":"fol","session_id":"s-fol"}']);
      await page.click('[data-testid="session-row"][data-session-key="session:s-fol"]', {
        timeout: UI_TIMEOUT,
      });
      await page.waitForSelector('[data-testid="feed-mode"][data-mode="exact"]', { timeout: UI_TIMEOUT });
      await connected(page);
      expect(new URL(sockets.at(-1)!).searchParams.get('filter')).toBe('session_id:s-fol');
      const ids = await sendAll(app.ws('/ws/behaviour'), [
        '{"event_type":"tap","user_id":"other","session_id":"s-other"}',
        '{"event_type":"swipe","user_id":"fol","session_id":"s-fol"}',
      ]);
      await page.waitForSelector(`[data-testid="feed-row"][data-message-id="${ids[1]}"]`, {
        timeout: UI_TIMEOUT,
      });
      expect(await page.$(`[data-testid="feed-row"][data-message-id="${ids[0]}"]`)).toBeNull();
    } finally {
      await page.close();
      await app.service.stop();
    }
  }, 60_000);

  it('shows the instances strip with WORKERS=2 and Redis, each with its own connections, and strikes through a worker that dies', async () => {
    const redis = await RedisServer.start();
    const app = await start({ WORKERS: '2', REDIS_URL: redis.url });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    try {
      await page.goto(app.http('/'));
      await connected(page);
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="instance"]:not(.gone)').length === 2,
        undefined,
        { timeout: 15_000 },
      );
      expect(await page.isVisible('[data-testid="instances"]')).toBe(true);
      const texts = await page.$$eval('[data-testid="instance"]', (els) => els.map((e) => e.textContent));
      expect(texts).toEqual([
        expect.stringMatching(/^\S+ · \d+ conn · [\d.]+k?\/s$/) as unknown,
        expect.stringMatching(/^\S+ · \d+ conn · [\d.]+k?\/s$/) as unknown,
      ]);
      mkdirSync(DOCS, { recursive: true });
      await page.screenshot({ path: join(DOCS, 'monitor-instances.png'), animations: 'disabled' });

      // Each instance shows its own connections: one producer is counted once, on one instance.
      const producer = await WsClient.open(app.ws('/ws/behaviour'));
      const liveConnections = () =>
        page.$$eval('[data-testid="instance"]:not(.gone)', (els) =>
          els.map((e) => Number(/ · (\d+) conn · /.exec(e.textContent ?? '')?.[1])).sort(),
        );
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('[data-testid="instance"]:not(.gone)')]
            .map((e) => Number(/ · (\d+) conn · /.exec(e.textContent ?? '')?.[1]))
            .sort()
            .join() === '0,1',
        undefined,
        { timeout: 15_000 },
      );
      expect(await liveConnections()).toEqual([0, 1]);
      producer.close();

      // A worker that dies is struck through on the strip (the primary forks a new one meanwhile).
      const pids = [
        ...new Set(
          app.service
            .lines()
            .filter((l) => / listening on /.test(l.msg))
            .map((l) => Number(l.pid)),
        ),
      ];
      expect(pids).toHaveLength(2);
      process.kill(pids[0], 'SIGKILL');
      // Instance ids are host-pid-suffix (src/cluster/instance-id.ts).
      const gone = await page.waitForSelector(`[data-testid="instance"].gone[data-id*="-${pids[0]}-"]`, {
        timeout: 20_000,
      });
      expect(await gone.textContent()).toMatch(/^\S+ · gone$/);
    } finally {
      await page.close();
      await app.service.stop();
      await redis.stop();
    }
  }, 60_000);
});
