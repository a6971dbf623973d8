/// <reference lib="dom" />
// The monitor page in a real Chromium against the real app: it draws the flow map, shows live
// events in the feed, the counters and the sessions, filters and pauses, shows an event's JSON,
// keeps hostile client data inert, reconnects after a restart, and leaves screenshots in
// test/artifacts/ for people to look at.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { FlowMapDocument } from '../src/stream/flow-map.js';
import { type RunningApp, startApp } from './support/app.js';
import { describeWithBrowser, launchChromium, watchErrors } from './support/browser.js';
import { WsClient } from '../harness/ws-client.mjs';
import type { AckFrame, ErrorFrame, IngestFrame } from '../src/protocol/index.js';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const UI_TIMEOUT = 5000;
const XSS = '<img src=x onerror="window.__xss=1">';

/** Any reply on the ingest socket, read loosely: tests look at `status` before the other fields. */
type Ack = Partial<Omit<AckFrame, 'status'> & Omit<ErrorFrame, 'status'>> & Pick<IngestFrame, 'status'>;

interface RowText {
  time: string;
  id: string;
  client: string;
  user: string;
  session: string;
  category: string;
  status: string;
}

const ROW = '[data-testid="feed-row"]';
const rowById = (id: number) => `${ROW}[data-message-id="${id}"]`;
const node = (id: string) => `[data-testid="flow-node"][data-node-id="${id}"]`;

/** Sends each frame and waits for its ack, so the server has counted them all. */
async function sendAll(client: WsClient, frames: unknown[]): Promise<Ack[]> {
  const acks: Ack[] = [];
  for (const frame of frames) {
    client.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    acks.push(await client.nextJson<Ack>());
  }
  return acks;
}

async function rowText(page: Page, selector: string): Promise<RowText> {
  return page.$eval(selector, (tr) => {
    const col = (name: string) => tr.querySelector(`[data-col="${name}"]`)?.textContent ?? '';
    return {
      time: col('time'),
      id: col('id'),
      client: col('client'),
      user: col('user'),
      session: col('session'),
      category: col('category'),
      status: col('status'),
    };
  });
}

/** Node counters as the page shows them (exact values live in data-count). */
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
  await page.waitForFunction(
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
  );
}

async function waitForVisibleUsers(page: Page, users: string[]): Promise<void> {
  await page.waitForFunction(
    (want) =>
      JSON.stringify(
        [...document.querySelectorAll('[data-testid="feed-row"]:not([hidden]) [data-col="user"]')].map(
          (td) => td.textContent,
        ),
      ) === JSON.stringify(want),
    users,
    { timeout: UI_TIMEOUT },
  );
}

async function setFilter(page: Page, text: string): Promise<void> {
  await page.fill('[data-testid="filter"]', text);
  await page.press('[data-testid="filter"]', 'Enter');
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), animations: 'disabled' });
}

/** Waits for two animation frames, so anything the page queued has been painted. */
const painted = (page: Page) =>
  page.evaluate(
    () => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))),
  );

describeWithBrowser('Monitor page (browser e2e)', () => {
  let running: RunningApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let producer: WsClient;

  beforeAll(async () => {
    // The deep-nesting test sends a ~120 KB event and expects its full data: above the 64 KiB default.
    // With replay, a filter the server applies (exact follow) shows the matching history too.
    running = await startApp({ MONITOR_EVENT_MAX_BYTES: '1048576', MONITOR_REPLAY: '200' });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    page = await context.newPage();
    errors = watchErrors(page);
    await page.goto(running.http + '/', { waitUntil: 'load' });
    await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
      timeout: UI_TIMEOUT,
    });
    producer = await WsClient.open(running.ws('/ws/behaviour'));
  }, 30_000);

  afterAll(async () => {
    producer?.socket.terminate();
    await browser?.close();
    await running?.close();
  });

  it('loads without console errors and draws one node per map node, left to right by distance', async () => {
    const map = (await (await fetch(`${running.http}/event-flow-map`)).json()) as FlowMapDocument;
    await page.waitForSelector(node('ack'), { timeout: UI_TIMEOUT });
    const drawn = await page.$$eval('[data-testid="flow-node"]', (els) =>
      els.map((el) => ({
        id: el.getAttribute('data-node-id') ?? '',
        label: el.querySelector('.node-label')?.textContent ?? '',
        x: Math.round(el.getBoundingClientRect().x),
      })),
    );
    expect(drawn.map((d) => d.id).sort()).toEqual(map.nodes.map((n) => n.id).sort());
    for (const n of map.nodes) expect(drawn.find((d) => d.id === n.id)?.label).toBe(n.label);

    const x = Object.fromEntries(drawn.map((d) => [d.id, d.x]));
    const columns = [
      ['client'],
      ['ingest'],
      ['parse'],
      ['classify', 'error'],
      ['touch', 'gesture', 'keystroke', 'motion', 'other'],
      ['stream'],
      ['ack'],
    ];
    for (const [c, column] of columns.entries()) {
      for (const id of column) expect(x[id]).toBe(x[column[0]]);
      if (c > 0) expect(x[column[0]]).toBeGreaterThan(x[columns[c - 1][0]]);
    }
    expect(await page.$eval('[data-testid="app-info"]', (el) => el.textContent)).toBe(
      `CBSA Backend · v${running.config.version}`,
    );
    expect(errors).toEqual([]);
  });

  it('shows sent events in the feed with their fields, moves the counters and lists sessions', async () => {
    const before = await nodeCounts(page);
    const acks = await sendAll(producer, [
      { event_type: 'tap', user_id: 'alice', session_id: 'sess-a', x: 10 },
      { event_type: 'swipe', user_id: 'bob', session_id: 'sess-b' },
      { type: 'keydown', user_id: 'alice', session_id: 'sess-a' },
    ]);
    const ids = acks.map((a) => a.message_id!);
    await page.waitForSelector(rowById(ids[2]), { timeout: UI_TIMEOUT });

    expect(await rowText(page, rowById(ids[0]))).toEqual({
      time: expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3}$/) as unknown,
      id: String(ids[0]),
      client: expect.stringMatching(/^[\w-]{8}$/) as unknown,
      user: 'alice',
      session: 'sess-a',
      category: 'touch',
      status: 'received',
    });
    expect(await rowText(page, rowById(ids[1]))).toMatchObject({ user: 'bob', category: 'gesture' });
    expect(await rowText(page, `${ROW}:first-child`)).toMatchObject({
      id: String(ids[2]),
      category: 'keystroke',
    });

    const plus = (id: string, n: number) => ({ [id]: before[id] + n });
    await waitForCounts(page, {
      ...plus('client', 3),
      ...plus('ingest', 3),
      ...plus('classify', 3),
      ...plus('touch', 1),
      ...plus('gesture', 1),
      ...plus('keystroke', 1),
      ...plus('motion', 0),
      ...plus('ack', 3),
      ...plus('error', 0),
    });

    const session = page.locator('[data-testid="session-row"][data-session-key="session:sess-a"]');
    await session.waitFor({ timeout: 3000 });
    expect(await session.locator('.s-count').textContent()).toBe('2');
    expect(await session.locator('.chip').allTextContents()).toEqual(['touch', 'keystroke']);

    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="stat-messages"]')?.getAttribute('data-value')) >= 3,
      undefined,
      { timeout: 3000 },
    );
  });

  it('shows a malformed frame as an error, in the feed and on the error node', async () => {
    const before = await nodeCounts(page);
    // The edge into the error node is drawn as carrying errors only while errors flow on it.
    const errorEdge = 'path.edge[data-from="parse"][data-to="error"]';
    expect(await page.$eval(errorEdge, (line) => line.classList.contains('err'))).toBe(false);
    const [ack] = await sendAll(producer, ['{"broken":']);
    expect(ack.status).toBe('error');
    await page.waitForSelector(`${ROW}:first-child[data-status="error"]`, { timeout: UI_TIMEOUT });
    expect(await rowText(page, `${ROW}:first-child`)).toMatchObject({
      id: '—',
      category: '—',
      status: 'error',
    });
    expect(await page.$eval(`${ROW}:first-child`, (tr) => tr.classList.contains('is-error'))).toBe(true);
    await waitForCounts(page, {
      error: before.error + 1,
      parse: before.parse + 1,
      classify: before.classify,
    });
    await page.waitForSelector(`${errorEdge}.err`, { timeout: UI_TIMEOUT });
    expect(await page.textContent(`${node('error')} [data-testid="node-count"]`)).toBe(
      String(before.error + 1),
    );
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="stat-errors"]')?.getAttribute('data-value')) >= 1,
      undefined,
      { timeout: 3000 },
    );
  });

  it('filters the feed by user_id, session_id, category and free text', async () => {
    await setFilter(page, 'user_id:bob');
    await waitForVisibleUsers(page, ['bob']);
    await sendAll(producer, [
      { event_type: 'pinch', user_id: 'bob', session_id: 'sess-b' },
      { event_type: 'tap', user_id: 'alice', session_id: 'sess-a' },
    ]);
    await waitForVisibleUsers(page, ['bob', 'bob']);

    await setFilter(page, 'session_id:sess-a');
    await waitForVisibleUsers(page, ['alice', 'alice', 'alice']);
    await setFilter(page, 'category:gesture');
    await waitForVisibleUsers(page, ['bob', 'bob']);
    await setFilter(page, 'ALIC');
    await waitForVisibleUsers(page, ['alice', 'alice', 'alice']);
    await setFilter(page, 'user_id:nobody');
    await waitForVisibleUsers(page, []);
    await page.waitForSelector('[data-testid="feed-empty"]:not([hidden])', { timeout: UI_TIMEOUT });

    await setFilter(page, '');
    await waitForVisibleUsers(page, ['alice', 'bob', '—', 'alice', 'bob', 'alice']);
  });

  it('pauses and resumes the feed', async () => {
    await page.click('[data-testid="pause"]');
    expect(await page.getAttribute('[data-testid="pause"]', 'aria-pressed')).toBe('true');
    const [ack] = await sendAll(producer, [{ event_type: 'tap', user_id: 'carol', session_id: 'sess-c' }]);
    // The page has taken the event in (the button counts it) but draws no row while paused.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="pause"]')?.textContent === 'Resume (1 new)',
      undefined,
      { timeout: UI_TIMEOUT },
    );
    await painted(page);
    expect(await page.$(rowById(ack.message_id!))).toBeNull();

    await page.click('[data-testid="pause"]');
    await page.waitForSelector(`${ROW}:first-child[data-message-id="${ack.message_id}"]`, {
      timeout: UI_TIMEOUT,
    });
    expect(await page.getAttribute('[data-testid="pause"]', 'aria-pressed')).toBe('false');
    expect(await page.textContent('[data-testid="pause"]')).toBe('Pause');
  });

  it('shows the full JSON of a clicked row, and of a row opened with Enter', async () => {
    const data = {
      event_type: 'scroll',
      user_id: 'dave',
      session_id: 'sess-d',
      nested: { list: [1, 'two', null] },
    };
    const [ack] = await sendAll(producer, [data]);
    const row = rowById(ack.message_id!);
    await page.waitForSelector(row, { timeout: UI_TIMEOUT });
    await page.click(row);
    await page.waitForSelector('[data-testid="details"]:not([hidden])', { timeout: UI_TIMEOUT });
    const text = (await page.textContent('[data-testid="details-json"]')) ?? '';
    expect(text).toContain('\n  "data": {\n');
    expect(JSON.parse(text)).toEqual({
      message_id: ack.message_id,
      client_id: expect.any(String) as unknown,
      status: 'received',
      server_timestamp: expect.any(Number) as unknown,
      path: ['client', 'ingest', 'parse', 'classify', 'gesture', 'stream', 'ack'],
      category: 'gesture',
      size: Buffer.byteLength(JSON.stringify(data)),
      data,
    });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="details"]', { state: 'hidden', timeout: UI_TIMEOUT });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-message-id'))).toBe(
      String(ack.message_id),
    );

    // Keyboard only: the focused row is the previous one after ArrowDown, and Enter opens it.
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="details"]:not([hidden])', { timeout: UI_TIMEOUT });
    const opened = JSON.parse((await page.textContent('[data-testid="details-json"]')) ?? '') as {
      data: unknown;
    };
    expect(opened.data).toEqual({ event_type: 'tap', user_id: 'carol', session_id: 'sess-c' });
    await page.click('[data-testid="details-close"]');
    await page.waitForSelector('[data-testid="details"]', { state: 'hidden', timeout: UI_TIMEOUT });
  });

  it('shows an XSS payload as text and never runs it', async () => {
    const imgs = await page.$$eval('img', (els) => els.length);
    const scripts = await page.$$eval('script', (els) => els.length);
    const data = {
      [XSS]: XSS,
      user_id: XSS,
      session_id: '</script><script>window.__xss=1</script>',
      event_type: XSS,
    };
    const [ack] = await sendAll(producer, [data, `</script>${XSS}`]);
    await page.waitForSelector(`${ROW}:first-child[data-status="error"]`, { timeout: UI_TIMEOUT });

    expect(await rowText(page, rowById(ack.message_id!))).toMatchObject({
      user: XSS,
      session: '</script><script>window.__xss=1</script>',
      category: 'other',
    });
    await page.click(rowById(ack.message_id!));
    await page.waitForSelector('[data-testid="details"]:not([hidden])', { timeout: UI_TIMEOUT });
    const shown = JSON.parse((await page.textContent('[data-testid="details-json"]')) ?? '') as {
      data: unknown;
    };
    expect(shown.data).toEqual(data);
    await page.click('[data-testid="details-close"]');

    await page.click(`${ROW}:first-child`);
    const malformed = JSON.parse((await page.textContent('[data-testid="details-json"]')) ?? '') as {
      preview: string;
    };
    expect(malformed.preview).toBe(`</script>${XSS}`);
    await page.click('[data-testid="details-close"]');

    await page.waitForSelector('[data-testid="session-row"][data-session-key^="session:</script>"]', {
      timeout: 3000,
    });
    await painted(page);
    expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.$$eval('img', (els) => els.length)).toBe(imgs);
    expect(await page.$$eval('script', (els) => els.length)).toBe(scripts);
  });

  it('falls back to compact JSON for data nested too deeply to pretty-print', async () => {
    const depth = 20_000;
    const deep = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    // The fallback is needed: this browser's JSON.stringify throws on such data.
    const throws = await page.evaluate((text) => {
      try {
        JSON.stringify(JSON.parse(text), null, 2);
        return false;
      } catch {
        return true;
      }
    }, deep);
    expect(throws).toBe(true);
    const [ack] = await sendAll(producer, [deep]);
    await page.waitForSelector(rowById(ack.message_id!), { timeout: UI_TIMEOUT });
    await page.click(rowById(ack.message_id!));
    await page.waitForSelector('[data-testid="details"]:not([hidden])', { timeout: UI_TIMEOUT });
    const text = (await page.textContent('[data-testid="details-json"]')) ?? '';
    expect(text.startsWith(`{"message_id":${ack.message_id},`)).toBe(true);
    expect(text.endsWith(`"data":${deep}}`)).toBe(true);
    await page.click('[data-testid="details-close"]');
    expect(errors).toEqual([]);
  });

  it('draws a replacement flow map from its own nodes and labels', async () => {
    const map: FlowMapDocument = {
      version: 1,
      nodes: [
        { id: 'device', label: 'Wearable', kind: 'source' },
        { id: 'gateway', label: 'Edge gateway', kind: 'stage' },
        { id: 'error', label: 'Rejected', kind: 'sink' },
        { id: 'heart', label: 'Heart rate', kind: 'category', match: { field: 'event_type', in: ['heart'] } },
        { id: 'misc', label: 'Misc', kind: 'category', match: { default: true } },
        { id: 'ack', label: 'Stored', kind: 'sink' },
      ],
      edges: [
        { from: 'device', to: 'gateway' },
        { from: 'gateway', to: 'error' },
        { from: 'gateway', to: 'heart' },
        { from: 'gateway', to: 'misc' },
        { from: 'heart', to: 'ack' },
        { from: 'misc', to: 'ack' },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), 'cbsa-map-'));
    const file = join(dir, 'flow-map.json');
    writeFileSync(file, JSON.stringify(map));
    const other = await startApp({ FLOW_MAP_FILE: file });
    const second = await context.newPage();
    const secondErrors = watchErrors(second);
    const client = await WsClient.open(other.ws('/ws/behaviour'));
    try {
      await second.goto(other.http + '/');
      await second.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
        timeout: UI_TIMEOUT,
      });
      await second.waitForSelector(node('heart'), { timeout: UI_TIMEOUT });
      const drawn = await second.$$eval('[data-testid="flow-node"]', (els) =>
        els.map((el) => ({
          id: el.getAttribute('data-node-id') ?? '',
          label: el.querySelector('.node-label')?.textContent ?? '',
          x: Math.round(el.getBoundingClientRect().x),
        })),
      );
      expect(drawn.map(({ id, label }) => ({ id, label }))).toEqual(
        map.nodes.map(({ id, label }) => ({ id, label })),
      );
      const x = Object.fromEntries(drawn.map((d) => [d.id, d.x]));
      expect(x.device).toBeLessThan(x.gateway);
      expect(x.gateway).toBeLessThan(x.heart);
      expect(x.heart).toBe(x.misc);
      expect(x.error).toBe(x.heart);
      expect(x.heart).toBeLessThan(x.ack);

      await sendAll(client, [{ event_type: 'heart', user_id: 'erin' }]);
      await waitForCounts(second, { device: 1, gateway: 1, heart: 1, misc: 0, ack: 1 });
      await second.waitForSelector(`${ROW} [data-col="category"] .chip:text-is("heart")`, {
        timeout: UI_TIMEOUT,
      });
      expect(secondErrors).toEqual([]);
    } finally {
      client.socket.terminate();
      await second.close();
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves screenshots of the page under a live stream', async () => {
    const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
    const types = ['tap', 'swipe', 'keydown', 'accelerometer', 'scroll', 'press', 'gyroscope', 'page_view'];
    const producers = await Promise.all(
      users.slice(0, 3).map(() => WsClient.open(running.ws('/ws/behaviour'))),
    );
    const startTotal = Number(await page.getAttribute('[data-testid="stat-messages"]', 'data-value'));
    let sent = 0;
    const timer = setInterval(() => {
      for (let k = 0; k < 6; k++) {
        const user = users[sent % users.length];
        const frame =
          sent % 37 === 0
            ? '{"event_type":"tap",'
            : JSON.stringify({
                event_type: types[(sent * 7) % types.length],
                user_id: user,
                session_id: `s-${user}`,
              });
        producers[sent % producers.length].send(frame);
        sent++;
      }
    }, 25);
    try {
      // A couple of seconds of stream, as the server counts it, so the chart and the graph have life.
      await page.waitForFunction(
        (from) =>
          Number(document.querySelector('[data-testid="stat-messages"]')?.getAttribute('data-value')) >= from,
        startTotal + 600,
        { timeout: 15_000 },
      );
      await shot(page, 'monitor-1280x800-dark.png');
      await page.emulateMedia({ colorScheme: 'light' });
      await painted(page);
      await shot(page, 'monitor-1280x800-light.png');
      await page.click(`${ROW}:nth-child(2)`);
      await shot(page, 'monitor-details-light.png');
      await page.click('[data-testid="details-close"]');
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.setViewportSize({ width: 390, height: 844 });
      await painted(page);
      await shot(page, 'monitor-phone-dark.png');
      await page.setViewportSize({ width: 1280, height: 800 });
    } finally {
      clearInterval(timer);
      producers.forEach((p) => p.socket.terminate());
    }
    expect(errors).toEqual([]);
  });

  it('asks for a token when the server refuses the monitor socket (401), and keeps it for the tab', async () => {
    const guardedApp = await startApp({ MONITOR_TOKEN: 'open sesame, please' });
    const guarded = await context.newPage();
    // The refused handshake and the 401 probe are logged by the browser itself; scripts must not fail.
    const pageErrors: string[] = [];
    guarded.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      await guarded.goto(guardedApp.http + '/');
      await guarded.waitForSelector('[data-testid="token-dialog"][open]', { timeout: UI_TIMEOUT });
      expect(await guarded.getAttribute('[data-testid="connection-state"]', 'data-state')).toBe(
        'unauthorized',
      );
      await guarded.fill('[data-testid="token-input"]', 'open sesame, please');
      await guarded.press('[data-testid="token-input"]', 'Enter');
      await guarded.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
        timeout: UI_TIMEOUT,
      });
      expect(await guarded.evaluate(() => sessionStorage.getItem('cbsa.monitorToken'))).toBe(
        'open sesame, please',
      );

      // A reload in the same tab connects with the kept token, without asking again.
      await guarded.reload();
      await guarded.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
        timeout: UI_TIMEOUT,
      });
      expect(await guarded.$('[data-testid="token-dialog"][open]')).toBeNull();
      expect(pageErrors).toEqual([]);
    } finally {
      await guarded.close();
      await guardedApp.close();
    }
  });

  it('reconnects by itself after the server restarts and shows new events', async () => {
    const port = running.port;
    producer.socket.terminate();
    await running.close();
    await page.waitForSelector('[data-testid="connection-state"][data-state="reconnecting"]', {
      timeout: UI_TIMEOUT,
    });
    running = await startApp({}, port);
    await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
      timeout: 15_000,
    });
    producer = await WsClient.open(running.ws('/ws/behaviour'));
    await sendAll(producer, [{ event_type: 'tap', user_id: 'after-restart', session_id: 'sess-r' }]);
    await page.waitForSelector(`${ROW}:first-child [data-col="user"]:text-is("after-restart")`, {
      timeout: UI_TIMEOUT,
    });
  }, 30_000);
});

describeWithBrowser('Monitor page with bad frames and huge events (browser e2e)', () => {
  let running: RunningApp;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let producer: WsClient;

  beforeAll(async () => {
    running = await startApp({ MONITOR_EVENT_MAX_BYTES: '4096' });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    errors = watchErrors(page);
    // The real server's frames pass through; before the first events frame, bad ones are slipped in.
    let injected = false;
    await page.routeWebSocket(/\/ws\/monitor/, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((message) => {
        const text = typeof message === 'string' ? message : message.toString();
        if (!injected && text.startsWith('{"type":"events"')) {
          injected = true;
          ws.send('not json at all');
          ws.send('{"type":"events","events":"not an array"}');
          ws.send(text.replace('"events":[', '"events":[null,42,'));
          return;
        }
        ws.send(text);
      });
    });
    await page.goto(running.http + '/', { waitUntil: 'load' });
    await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
      timeout: UI_TIMEOUT,
    });
    producer = await WsClient.open(running.ws('/ws/behaviour'));
  }, 30_000);

  afterAll(async () => {
    producer?.close();
    await browser?.close();
    await running?.close();
  });

  it('skips and counts unreadable frames and events, and still shows the rest of the batch', async () => {
    const acks = await sendAll(producer, [
      { event_type: 'tap', user_id: 'kept-1' },
      { event_type: 'swipe', user_id: 'kept-2' },
    ]);
    for (const ack of acks) await page.waitForSelector(rowById(ack.message_id!), { timeout: UI_TIMEOUT });
    await page.waitForSelector('[data-testid="stat-skipped"][data-value="4"]', { timeout: UI_TIMEOUT });
    expect(await page.isVisible('[data-testid="stat-skipped"]')).toBe(true);
    expect(await page.textContent('[data-testid="stat-skipped"]')).toBe('4');
    expect(errors).toEqual([]);
  });

  it('keeps only a preview of an event over MONITOR_EVENT_MAX_BYTES', async () => {
    const big = JSON.stringify({ event_type: 'tap', user_id: 'huge', pad: 'h'.repeat(100_000) });
    const [ack] = await sendAll(producer, [big]);
    expect(ack.status).toBe('received');
    await page.waitForSelector(rowById(ack.message_id!), { timeout: UI_TIMEOUT });
    await page.click(rowById(ack.message_id!));
    await page.waitForSelector('[data-testid="details"]:not([hidden])', { timeout: UI_TIMEOUT });
    const shown = JSON.parse((await page.textContent('[data-testid="details-json"]')) ?? '') as Record<
      string,
      unknown
    >;
    expect(shown).toEqual({
      message_id: ack.message_id,
      client_id: expect.any(String) as unknown,
      status: 'received',
      server_timestamp: expect.any(Number) as unknown,
      path: ['client', 'ingest', 'parse', 'classify', 'touch', 'stream', 'ack'],
      category: 'touch',
      size: big.length,
      truncated: true,
      preview: big.slice(0, 200),
    });
    await page.click('[data-testid="details-close"]');
    expect(errors).toEqual([]);
  });
});
