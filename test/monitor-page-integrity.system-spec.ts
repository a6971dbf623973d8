/// <reference lib="dom" />
// The monitor page's integrity panel against the production build (dist/main.js): resumable
// producers skip seqs, resend old ones and reconnect, and the page must show what the server
// decided: per stream its last seq, gaps (count and last size), duplicates and resumes; the top
// bar's gaps, duplicates and resumes; and the duplicate and gap marks on the flow graph. Without
// Redis (in-memory stream state) and in sink mode (state and appends in Redis), where an event
// failing its schema (EVENT_SCHEMAS_DIR) is counted on the graph's own "quarantine" node.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { ResumeFrame } from '../src/protocol/index.js';
import { describeWithBrowser, launchChromium, watchErrors } from './support/browser.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { itWithRedis } from './support/redis.js';
import type { Reply } from './support/resumable-client.js';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const UI_TIMEOUT = 8000;
const DOCS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(import.meta.dirname, '..', 'docs')
    : join(import.meta.dirname, 'artifacts');

/**
 * One connection of a resumable producer: it reads the resume frame, then sends the seqs it is
 * given (a real client would send last_seq + 1 onwards; these skip and resend on purpose) and
 * returns the server's reply to each, in order.
 */
async function session(
  url: string,
  stream: string,
  seqs: number[],
): Promise<{ lastSeq: number; replies: string[] }> {
  const client = await WsClient.open(`${url}?stream=${encodeURIComponent(stream)}`);
  const resume = await client.nextJson<ResumeFrame>();
  expect(resume).toMatchObject({ type: 'resume', stream });
  const replies: string[] = [];
  for (const seq of seqs) {
    client.send(JSON.stringify({ seq, event_type: 'tap', user_id: 'u-' + stream, session_id: stream }));
    const reply = await client.nextJson<Reply>();
    expect(reply.seq).toBe(seq);
    replies.push(reply.status);
  }
  client.close();
  await client.closed;
  return { lastSeq: resume.last_seq, replies };
}

interface Shown {
  text: string;
  lastSeq: number;
  gaps: number;
  lastGap: number;
  duplicates: number;
  resumes: number;
  marked: boolean;
}

async function streamRow(page: Page, stream: string): Promise<Shown | undefined> {
  return page.evaluate((key) => {
    const button = document.querySelector(
      `[data-testid="session-row"][data-session-key="${CSS.escape(key)}"]`,
    );
    const it = button?.querySelector<HTMLElement>('[data-testid="stream-integrity"]');
    if (!button || !it || it.hidden) return undefined;
    return {
      text: it.textContent ?? '',
      lastSeq: Number(it.dataset.lastSeq),
      gaps: Number(it.dataset.gaps),
      lastGap: Number(it.dataset.lastGap),
      duplicates: Number(it.dataset.duplicates),
      resumes: Number(it.dataset.resumes),
      marked: button.classList.contains('has-gaps'),
    };
  }, 'stream:' + stream);
}

async function waitForRow(page: Page, stream: string, want: Omit<Shown, 'text'>): Promise<Shown> {
  const deadline = Date.now() + UI_TIMEOUT;
  let shown: Shown | undefined;
  while (Date.now() < deadline) {
    shown = await streamRow(page, stream);
    const row = shown;
    if (row !== undefined && (Object.keys(want) as (keyof typeof want)[]).every((k) => row[k] === want[k])) {
      return row;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`stream ${stream} shows ${JSON.stringify(shown)}, wanted ${JSON.stringify(want)}`);
}

/** The top bar's integrity counters and the graph's marks, once they equal `want`. */
async function waitForTotals(
  page: Page,
  want: { gaps: number; duplicates: number; resumes: number },
): Promise<void> {
  const read = () =>
    page.evaluate(() => {
      const value = (id: string) =>
        Number(document.querySelector(`[data-testid="${id}"]`)?.getAttribute('data-value'));
      const mark = (id: string) =>
        Number(document.querySelector(`[data-testid="${id}"]`)?.getAttribute('data-count'));
      return {
        gaps: value('stat-gaps'),
        duplicates: value('stat-duplicates'),
        resumes: value('stat-resumes'),
        markGaps: mark('flow-mark-gaps'),
        markDuplicates: mark('flow-mark-duplicates'),
      };
    });
  const expected = { ...want, markGaps: want.gaps, markDuplicates: want.duplicates };
  const deadline = Date.now() + UI_TIMEOUT;
  let seen = await read();
  while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
    await page.waitForTimeout(100);
    seen = await read();
  }
  expect(seen).toEqual(expected);
}

const connected = (page: Page) =>
  page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', { timeout: UI_TIMEOUT });

/** The same traffic in every mode: one stream with gaps, duplicates and resumes, one clean. */
async function drive(page: Page, ingest: string, screenshot?: string): Promise<void> {
  const a = 'phone-1:sess-a';
  const b = 'phone-2:sess-b';

  // First connection of A: 1..3, then 6 (skips 4 and 5: a gap of 2), then 5 again (a duplicate).
  expect(await session(ingest, a, [1, 2, 3, 6, 5])).toEqual({
    lastSeq: 0,
    replies: ['received', 'received', 'received', 'received', 'duplicate'],
  });
  expect(await session(ingest, b, [1, 2, 3, 4])).toEqual({
    lastSeq: 0,
    replies: ['received', 'received', 'received', 'received'],
  });
  // A resumes from 6: sends 7, then 11 (a gap of 3), then resends 7 (a duplicate).
  expect(await session(ingest, a, [7, 11, 7])).toEqual({
    lastSeq: 6,
    replies: ['received', 'received', 'duplicate'],
  });
  const shownA = await waitForRow(page, a, {
    lastSeq: 11,
    gaps: 2,
    lastGap: 3,
    duplicates: 2,
    resumes: 1,
    marked: true,
  });
  expect(shownA.text).toBe('seq 11 · 2 gaps (last 3) · 2 duplicates · 1 resume');
  await waitForRow(page, b, { lastSeq: 4, gaps: 0, lastGap: 0, duplicates: 0, resumes: 0, marked: false });
  await waitForTotals(page, { gaps: 5, duplicates: 2, resumes: 1 });
  if (screenshot !== undefined) {
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: join(DOCS, screenshot), animations: 'disabled' });
  }

  // A resumes again, from 11: 12, then 15 (a gap of 2). Every figure moves with the traffic.
  expect(await session(ingest, a, [12, 15])).toEqual({ lastSeq: 11, replies: ['received', 'received'] });
  await waitForRow(page, a, { lastSeq: 15, gaps: 3, lastGap: 2, duplicates: 2, resumes: 2, marked: true });
  await waitForTotals(page, { gaps: 7, duplicates: 2, resumes: 2 });
  // B resumes with nothing new to send but one resend: a duplicate and a resume, still no gap.
  expect(await session(ingest, b, [4])).toEqual({ lastSeq: 4, replies: ['duplicate'] });
  await waitForRow(page, b, { lastSeq: 4, gaps: 0, lastGap: 0, duplicates: 1, resumes: 1, marked: false });
  await waitForTotals(page, { gaps: 7, duplicates: 3, resumes: 3 });
}

describeWithBrowser('Monitor page: integrity panel (browser e2e, production build)', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("shows each stream's last seq, gaps, duplicates and resumes, and the totals on the top bar and the graph", async () => {
    const service = new Service({ LOG_LEVEL: 'info' });
    const port = await service.port();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    const errors = watchErrors(page);
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      await connected(page);
      await drive(page, `ws://127.0.0.1:${port}/ws/behaviour`, 'monitor-integrity.png');
      // Duplicates were not stored: the nodes count only the 12 accepted events (8 of A, 4 of B).
      const ack = await page.getAttribute('[data-node-id="ack"] [data-testid="node-count"]', 'data-count');
      expect(Number(ack)).toBe(12);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await service.stop();
    }
  }, 60_000);

  itWithRedis(
    'shows the same in sink mode, where the seq check and the append happen in Redis',
    async () => {
      const redis = await RedisServer.start();
      // A schema the driven events pass (they have no x), so one event with a bad x is quarantined.
      const schemas = mkdtempSync(join(tmpdir(), 'cbsa-schemas-'));
      writeFileSync(join(schemas, 'touch.json'), '{"properties":{"x":{"type":"number"}}}');
      const service = new Service({
        LOG_LEVEL: 'info',
        REDIS_URL: redis.url,
        SINK: 'redis-stream',
        EVENT_SCHEMAS_DIR: schemas,
      });
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const errors = watchErrors(page);
      try {
        const port = await service.port();
        await page.goto(`http://127.0.0.1:${port}/`);
        await connected(page);
        const ingest = `ws://127.0.0.1:${port}/ws/behaviour`;
        // The quarantine node is drawn from the start (the server counts it), at 0.
        const quarantine = '[data-node-id="quarantine"] [data-testid="node-count"]';
        await page.waitForSelector(quarantine, { timeout: UI_TIMEOUT, state: 'attached' });
        expect(await page.getAttribute(quarantine, 'data-count')).toBe('0');
        await drive(page, ingest);
        const client = await WsClient.open(`${ingest}?stream=bad-x`);
        await client.nextJson<ResumeFrame>();
        client.send(JSON.stringify({ seq: 1, event_type: 'tap', x: 'a' }));
        expect(await client.nextJson()).toMatchObject({
          status: 'quarantined',
          errors: ['/x must be number'],
        });
        client.close();
        // Its own node counts it (acked too: "ack" counts the 12 driven events and this one).
        await page.waitForFunction(
          (sel) => document.querySelector(sel)?.getAttribute('data-count') === '1',
          quarantine,
          { timeout: UI_TIMEOUT },
        );
        const ack = await page.getAttribute('[data-node-id="ack"] [data-testid="node-count"]', 'data-count');
        expect(Number(ack)).toBe(13);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await service.stop();
        await redis.stop();
        rmSync(schemas, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
