/// <reference lib="dom" />
// The monitor page shows a restart: /health and hello carry started_at, and when it changes across
// a reconnect the feed and the chart say "service restarted" (a reconnect to the same instance says
// nothing). Totals that fall without a restart are explained too (served by a scripted monitor socket).
import type { Browser, Page } from 'playwright-core';
import type { HelloFrame, StatsFrame } from '../src/protocol/index.js';
import { type RunningApp, startApp } from './support/app.js';
import { describeWithBrowser, launchChromium } from './support/browser.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { WsClient } from '../harness/ws-client.mjs';

const UI_TIMEOUT = 5000;
const MARK = '[data-testid="feed-mark"]';
const CHART_MARK = '[data-testid="chart-mark"]';

const startedAt = async (http: string) =>
  ((await (await fetch(`${http}/health`)).json()) as { started_at: string }).started_at;

async function state(page: Page, name: string, timeout = 15_000): Promise<void> {
  await page.waitForSelector(`[data-testid="connection-state"][data-state="${name}"]`, { timeout });
}

describeWithBrowser('Monitor page across a restart (browser e2e)', () => {
  let running: RunningApp;
  let proxy: TcpProxy;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    running = await startApp({ MONITOR_FLUSH_MS: '10' });
    proxy = await TcpProxy.start(running.port);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${proxy.port}/`, { waitUntil: 'load' });
    await state(page, 'connected');
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await running?.close();
  });

  it('says nothing when the page reconnects to the same instance', async () => {
    const producer = await WsClient.open(running.ws('/ws/behaviour'));
    for (let i = 0; i < 3; i++) {
      producer.send(`{"event_type":"tap","n":${i}}`);
      await producer.nextJson();
    }
    producer.socket.close();
    await page.waitForSelector('[data-testid="stat-messages"][data-value="3"]', { timeout: UI_TIMEOUT });
    proxy.severAll();
    await state(page, 'reconnecting', UI_TIMEOUT);
    await state(page, 'connected');
    // A stats frame after the reconnect has been seen (the totals did not change).
    await page.waitForTimeout(1500);
    expect(await page.$$eval(MARK, (els) => els.length)).toBe(0);
    expect(await page.$$eval(CHART_MARK, (els) => els.length)).toBe(0);
  }, 30_000);

  it('marks the restart in the feed and on the chart, and explains the totals starting again', async () => {
    const before = await startedAt(running.http);
    const port = running.port;
    await running.close();
    await state(page, 'reconnecting', UI_TIMEOUT);
    running = await startApp({ MONITOR_FLUSH_MS: '10' }, port);
    const after = await startedAt(running.http);
    expect(after).not.toBe(before);
    await state(page, 'connected');
    await page.waitForSelector(`${MARK}[data-mark="restart"]`, { timeout: UI_TIMEOUT });
    const text = await page.textContent(`${MARK}[data-mark="restart"] [data-col="mark"]`);
    expect(text).toMatch(
      /^Service restarted at \d\d:\d\d:\d\d: totals and message ids start again from 0 \(it had counted 3 messages\)$/,
    );
    expect(await page.$$eval(CHART_MARK, (els) => els.map((el) => el.textContent))).toEqual([
      'service restarted',
    ]);
    // The totals fall to the new instance's, explained by the restart: no second mark.
    await page.waitForSelector('[data-testid="stat-messages"][data-value="0"]', { timeout: UI_TIMEOUT });
    await page.waitForTimeout(1200);
    expect(await page.$$eval(MARK, (els) => els.map((el) => el.getAttribute('data-mark')))).toEqual([
      'restart',
    ]);
  }, 30_000);
});

describeWithBrowser('Monitor page when totals fall without a restart (browser e2e)', () => {
  let running: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    running = await startApp();
    browser = await launchChromium();
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it('says the totals fell, and from what to what', async () => {
    const page = await browser.newPage();
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    const hello = await monitor.nextJson<HelloFrame>();
    monitor.socket.close();
    const stats = (total: number): StatsFrame => ({
      type: 'stats',
      active_connections: 0,
      active_monitors: 1,
      total_messages: total,
      total_errors: 0,
      total_duplicates: 0,
      total_gaps: 0,
      resumes: 0,
      messages_per_second: 0,
      dropped: 0,
      state_evictions: 0,
      nodes: {},
    });
    // The same instance (same started_at) reporting lower totals: as when an instance leaves a cluster.
    await page.routeWebSocket(/\/ws\/monitor/, (ws) => {
      ws.send(JSON.stringify(hello));
      ws.send(JSON.stringify(stats(1200)));
      setTimeout(() => ws.send(JSON.stringify(stats(700))), 300);
    });
    await page.goto(running.http + '/', { waitUntil: 'load' });
    await page.waitForSelector(`${MARK}[data-mark="fall"]`, { timeout: UI_TIMEOUT });
    expect(await page.textContent(`${MARK}[data-mark="fall"] [data-col="mark"]`)).toBe(
      'Totals fell from 1,200 to 700 messages: the figures now come from fewer instances (one left the cluster) or from another one',
    );
    expect(await page.$$eval(CHART_MARK, (els) => els.map((el) => el.textContent))).toEqual(['totals fell']);
  });
});
