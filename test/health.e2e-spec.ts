// GET /health, GET /event-flow-map and the page at /.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FLOW_MAP_FILE } from '../src/stream/flow-map.js';
import { type RunningApp, startApp } from './support/app.js';
import { type Health, waitForHealth } from './support/health.js';
import { WsClient } from '../harness/ws-client.mjs';

describe('HTTP endpoints (e2e)', () => {
  let running: RunningApp;
  const waitFor = (predicate: (h: Health) => boolean) => waitForHealth(running.http, predicate);

  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('reports health with zero counts at start', async () => {
    const res = await fetch(`${running.http}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ok',
      active_connections: 0,
      active_monitors: 0,
      total_messages: 0,
      total_errors: 0,
      total_duplicates: 0,
      total_gaps: 0,
      resumes: 0,
      uptime_seconds: expect.any(Number) as unknown,
      started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      version: running.config.version,
      auth_refused: 0,
    });
  });

  it('counts connections, monitors, messages and errors, and counts go back down', async () => {
    const a = await WsClient.open(running.ws('/ws/behaviour'));
    const b = await WsClient.open(running.ws('/ws/behaviour'));
    const m = await WsClient.open(running.ws('/ws/monitor'));
    a.send('{"event_type":"tap"}');
    await a.next();
    b.send('nope');
    await b.next();
    expect(await waitFor((h) => h.active_connections === 2)).toMatchObject({
      active_connections: 2,
      active_monitors: 1,
      total_messages: 1,
      total_errors: 1,
    });
    a.close();
    b.close();
    m.close();
    expect(await waitFor((h) => h.active_connections === 0 && h.active_monitors === 0)).toMatchObject({
      active_connections: 0,
      active_monitors: 0,
      total_messages: 1,
      total_errors: 1,
    });
  });

  it('serves the event flow map', async () => {
    const res = await fetch(`${running.http}/event-flow-map`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(readFileSync(DEFAULT_FLOW_MAP_FILE, 'utf8')));
  });

  it('serves the monitor page at / with its security headers', async () => {
    const res = await fetch(`${running.http}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toMatch(/<title>[^<]*CBSA/);
  });

  it('answers unknown HTTP paths with 404', async () => {
    expect((await fetch(`${running.http}/nope`)).status).toBe(404);
  });
});

describe('A replacement flow map (e2e)', () => {
  it('is served and used to classify', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cbsa-')), 'map.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        nodes: [
          { id: 'phone', label: 'Phone', kind: 'source' },
          { id: 'parse', label: 'Parse', kind: 'stage' },
          { id: 'error', label: 'Bad', kind: 'sink' },
          { id: 'taps', label: 'Taps', kind: 'category', match: { field: 'kind', in: ['tap'] } },
          { id: 'rest', label: 'Rest', kind: 'category', match: { default: true } },
          { id: 'ack', label: 'Ack', kind: 'sink' },
        ],
        edges: [
          { from: 'phone', to: 'parse' },
          { from: 'parse', to: 'error' },
          { from: 'parse', to: 'taps' },
          { from: 'parse', to: 'rest' },
          { from: 'taps', to: 'ack' },
          { from: 'rest', to: 'ack' },
        ],
      }),
    );
    const running = await startApp({ FLOW_MAP_FILE: file, MONITOR_FLUSH_MS: '10' });
    try {
      const map = (await (await fetch(`${running.http}/event-flow-map`)).json()) as {
        nodes: { id: string }[];
      };
      expect(map.nodes.map((n) => n.id)).toEqual(['phone', 'parse', 'error', 'taps', 'rest', 'ack']);
      const monitor = await WsClient.open(running.ws('/ws/monitor'));
      const client = await WsClient.open(running.ws('/ws/behaviour'));
      client.send('{"kind":"TAP"}');
      await client.next();
      const batch = await monitor.until<{ type: string; events: { path: string[]; category: string }[] }>(
        (f) => f.type === 'events',
      );
      expect(batch.events[0]).toMatchObject({ category: 'taps', path: ['phone', 'parse', 'taps', 'ack'] });
      monitor.close();
      client.close();
    } finally {
      await running.close();
    }
  });
});
