/// <reference lib="dom" />
// The monitor page for everyone: axe-core finds no serious or critical violation in the light and
// dark themes, live and with the service down; the feed is one tab stop moved through with the
// arrow keys; graph nodes say their counts; the top bar never overlaps itself at 1280 px or 390 px
// in any connection state (screenshots left in test/artifacts/).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type RunningApp, startApp } from './support/app.js';
import { describeWithBrowser, launchChromium } from './support/browser.js';
import { WsClient } from '../harness/ws-client.mjs';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const UI_TIMEOUT = 5000;
/** axe-core from node_modules, injected into the page: nothing is fetched from a CDN. */
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const ROW = '[data-testid="feed-row"]';

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** Serious and critical violations only, each with the elements that fail and why. */
async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: string[] }[]> {
  await page.bringToFront();
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`),
    }));
}

async function connected(page: Page): Promise<void> {
  await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
    timeout: UI_TIMEOUT,
  });
}

describeWithBrowser('Monitor page accessibility (browser e2e)', () => {
  let running: RunningApp;
  let browser: Browser;
  const pages = new Map<'light' | 'dark', Page>();
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    running = await startApp({ MONITOR_FLUSH_MS: '10' });
    browser = await launchChromium();
    for (const theme of ['light', 'dark'] as const) {
      // bypassCSP only so axe can be injected; the page's own scripts are the same.
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        colorScheme: theme,
        bypassCSP: true,
      });
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(running.http + '/', { waitUntil: 'load' });
      await connected(page);
      pages.set(theme, page);
    }
    const producer = await WsClient.open(running.ws('/ws/behaviour'));
    for (let i = 0; i < 12; i++) {
      producer.send(
        JSON.stringify({ event_type: i % 2 ? 'tap' : 'page_view', user_id: `u${i}`, session_id: 's1' }),
      );
      await producer.nextJson();
    }
    producer.send('{not json');
    await producer.nextJson();
    producer.socket.close();
    for (const page of pages.values()) {
      // One page at a time is in front; a page behind it gets no animation frames to draw in.
      await page.bringToFront();
      // A page behind draws only the newest few of what it queued (the feed's per-frame cap).
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="feed-row"]').length >= 3,
        null,
        {
          timeout: UI_TIMEOUT,
        },
      );
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it.each(['light', 'dark'] as const)(
    'has no serious or critical axe violation, live, in the %s theme',
    async (theme) => {
      expect(await axeViolations(pages.get(theme)!)).toEqual([]);
    },
  );

  it('makes the feed one tab stop, moved through with the arrow keys', async () => {
    const page = pages.get('dark')!;
    await page.bringToFront();
    const rows = await page.$$eval(ROW, (els) => els.map((el) => (el as HTMLElement).tabIndex));
    expect(rows.filter((t) => t === 0)).toHaveLength(1);
    expect(rows.filter((t) => t === -1)).toHaveLength(rows.length - 1);
    // Positions among the rows (newest first) of the focused one.
    const at = () =>
      page.evaluate(
        (sel) => [...document.querySelectorAll(sel)].indexOf(document.activeElement as Element),
        ROW,
      );
    // Tab from the feed's last control (Pause) lands on the newest row.
    await page.focus('[data-testid="pause"]');
    await page.keyboard.press('Tab');
    expect(await at()).toBe(0);
    await page.keyboard.press('ArrowDown');
    expect(await at()).toBe(1);
    await page.keyboard.press('End');
    expect(await at()).toBe(rows.length - 1);
    await page.keyboard.press('Home');
    expect(await at()).toBe(0);
    // The row last focused is the feed's one tab stop; Tab leaves the feed, Shift+Tab comes back to it.
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    expect(await at()).toBe(-1);
    await page.keyboard.press('Shift+Tab');
    expect(await at()).toBe(1);
    expect(await page.$$eval(`${ROW}[tabindex="0"]`, (els) => els.length)).toBe(1);
  });

  it('names every graph node with its count', async () => {
    const page = pages.get('dark')!;
    const named = await page.$$eval('[data-testid="flow-node"]', (els) =>
      els.map((el) => ({
        name: el.getAttribute('aria-label') ?? '',
        count: el.querySelector('[data-testid="node-count"]')?.getAttribute('data-count') ?? '',
      })),
    );
    expect(named.length).toBeGreaterThan(0);
    for (const { name, count } of named) expect(name).toContain(Number(count).toLocaleString('en-US'));
  });

  it('has no serious or critical axe violation with the service down, in either theme', async () => {
    await running.close();
    for (const [theme, page] of pages) {
      await page.waitForSelector('[data-testid="connection-state"][data-state="reconnecting"]', {
        timeout: UI_TIMEOUT,
      });
      expect({ theme, violations: await axeViolations(page) }).toEqual({ theme, violations: [] });
    }
  }, 30_000);
});

interface Box {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The top bar's visible parts: brand, state pill, its reason, and each statistic. */
async function topBarBoxes(page: Page): Promise<Box[]> {
  return page.$$eval('.topbar .brand, .topbar #conn, .topbar #conn-error, .topbar .stat', (els) =>
    els
      .filter((el) => !(el as HTMLElement).hidden && el.getClientRects().length > 0)
      .map((el) => {
        const r = el.getBoundingClientRect();
        return {
          name: el.id || String(el.getAttribute('class')),
          x: r.x,
          y: r.y,
          width: r.width,
          height: r.height,
        };
      }),
  );
}

/** Every pair of boxes that intersect, and every box that leaves the viewport: none expected. */
function layoutProblems(boxes: Box[], viewportWidth: number): string[] {
  const problems: string[] = [];
  for (const b of boxes)
    if (b.x < 0 || b.x + b.width > viewportWidth + 0.5) problems.push(`${b.name} outside the viewport`);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const apart =
        a.x + a.width <= b.x + 0.5 ||
        b.x + b.width <= a.x + 0.5 ||
        a.y + a.height <= b.y + 0.5 ||
        b.y + b.height <= a.y + 0.5;
      if (!apart) problems.push(`${a.name} overlaps ${b.name}`);
    }
  }
  return problems;
}

describeWithBrowser('Monitor page top bar in every connection state (browser e2e)', () => {
  let running: RunningApp;
  let browser: Browser;
  /** Forwards to the app, or while `hold` is set accepts connections and never answers them. */
  let proxy: Server;
  let hold = false;
  const held: Socket[] = [];
  const pages = new Map<number, Page>();

  const check = async (width: number, state: string) => {
    const page = pages.get(width)!;
    await page.bringToFront();
    await page.waitForSelector(`[data-testid="connection-state"][data-state="${state.split(':')[0]}"]`, {
      timeout: UI_TIMEOUT,
    });
    await page.screenshot({
      path: join(ARTIFACTS, `monitor-topbar-${width}-${state.replace(':', '-')}.png`),
    });
    const boxes = await topBarBoxes(page);
    expect(boxes.length).toBeGreaterThanOrEqual(10);
    expect({ width, state, problems: layoutProblems(boxes, width) }).toEqual({ width, state, problems: [] });
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    running = await startApp();
    proxy = createServer((client) => {
      held.push(client);
      if (hold) return;
      const upstream = connect(running.port, '127.0.0.1');
      held.push(upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 800 }, colorScheme: 'light' });
      pages.set(width, await context.newPage());
    }
  }, 30_000);

  afterAll(async () => {
    held.forEach((s) => s.destroy());
    proxy?.close();
    await browser?.close();
    await running?.close();
  });

  it('does not overlap while connecting, at 1280 and 390 px', async () => {
    for (const [width, page] of pages) {
      // The page is loaded through a proxy that, from its config request on, holds every new
      // connection unanswered: its monitor socket stays "connecting".
      hold = false;
      await page.route('**/config.json', async (route) => {
        hold = true;
        await route.fulfill({
          json: {
            ingest_endpoint: '/ws/behaviour',
            monitor_endpoint: '/ws/monitor',
            flow_map: '/event-flow-map',
          },
        });
      });
      await page.goto(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`, {
        waitUntil: 'domcontentloaded',
      });
      await check(width, 'connecting');
      await page.unroute('**/config.json');
    }
  });

  it('does not overlap when connected', async () => {
    for (const [width, page] of pages) {
      await page.goto(running.http + '/', { waitUntil: 'load' });
      await check(width, 'connected');
    }
  });

  it('does not overlap while reconnecting with a reason, or when a token is asked for', async () => {
    await running.close();
    for (const [width, page] of pages) {
      await page.bringToFront();
      await page.waitForSelector('[data-testid="connection-error"]:not([hidden])', { timeout: UI_TIMEOUT });
      await check(width, 'reconnecting:down');
      // The longest reason the page gives: a refused origin (the probe's answer, as the server would give it).
      await page.route('**/ws/monitor', (route) => route.fulfill({ status: 403 }));
      await page.click('[data-testid="connection-state"]');
      await page.waitForSelector('[data-testid="connection-error"][data-refusal="forbidden"]', {
        timeout: UI_TIMEOUT,
      });
      await check(width, 'reconnecting:forbidden');
      await page.unroute('**/ws/monitor');
      await page.route('**/ws/monitor', (route) => route.fulfill({ status: 401 }));
      await page.click('[data-testid="connection-state"]');
      await page.waitForSelector('#token-dialog[open]', { timeout: UI_TIMEOUT });
      await page.keyboard.press('Escape');
      await check(width, 'unauthorized');
    }
  }, 30_000);
});
