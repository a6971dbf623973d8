// The monitor contract on /ws/monitor: hello, batched events, stats, and slow-monitor handling.
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { EventsFrame, MonitorEvent, ReceivedEvent } from '../src/protocol/index.js';
import { DEFAULT_FLOW_MAP_FILE, type FlowMapDocument } from '../src/stream/flow-map.js';
import { type RunningApp, startApp } from './support/app.js';
import { readHealth, waitForHealth } from './support/health.js';
import { sleep } from '../harness/wait.mjs';
import { WsClient, expectServed } from '../harness/ws-client.mjs';

const flowMap = JSON.parse(readFileSync(DEFAULT_FLOW_MAP_FILE, 'utf8')) as FlowMapDocument;
const isWalk = (path: string[]) =>
  path[0] === flowMap.nodes.find((n) => n.kind === 'source')!.id &&
  path.slice(1).every((to, i) => flowMap.edges.some((e) => e.from === path[i] && e.to === to));

/** Collects every event a monitor receives until `count` have arrived. */
async function collectEvents(monitor: WsClient, count: number, frames: EventsFrame[] = []) {
  const events: MonitorEvent[] = [];
  while (events.length < count) {
    const frame = await monitor.until<EventsFrame | { type: string }>((f) => f.type === 'events');
    frames.push(frame as EventsFrame);
    events.push(...(frame as EventsFrame).events);
  }
  return events;
}

describe('Monitor /ws/monitor (e2e)', () => {
  let running: RunningApp;
  const clients: WsClient[] = [];
  const open = async (path: string) => {
    const client = await WsClient.open(running.ws(path));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    running = await startApp({ MONITOR_FLUSH_MS: '30', MONITOR_BATCH_MAX: '8' });
  });
  afterEach(() => clients.splice(0).forEach((c) => c.socket.terminate()));
  afterAll(() => running.close());

  it('says hello on connect', async () => {
    const monitor = await open('/ws/monitor');
    expect(await monitor.nextJson()).toEqual({
      type: 'hello',
      app: { name: 'CBSA Backend', version: running.config.version },
      started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      flow_map: '/event-flow-map',
      endpoints: { ingest: '/ws/behaviour', monitor: '/ws/monitor', flow_map: '/event-flow-map' },
      nodes: expect.objectContaining({ client: expect.any(Number) as unknown }) as unknown,
      replay: { events: 0, scope: 'instance' },
    });
  });

  it('delivers a received event and an error event whose paths are walks on the map', async () => {
    const monitor = await open('/ws/monitor');
    await monitor.nextJson();
    const client = await open('/ws/behaviour');
    const frame = '{"event_type":"keydown","user_id":"u1","session_id":"s1","k":[1, 2]}';
    client.send(frame);
    const { message_id } = await client.nextJson<{ message_id: number }>();
    client.send('{"broken":');
    await client.nextJson();
    const [received, error] = await collectEvents(monitor, 2);
    expect(received).toEqual({
      message_id,
      client_id: expect.stringMatching(/^[\w-]{8}$/) as unknown,
      status: 'received',
      server_timestamp: expect.any(Number) as unknown,
      path: ['client', 'ingest', 'parse', 'classify', 'keystroke', 'stream', 'ack'],
      category: 'keystroke',
      size: Buffer.byteLength(frame),
      data: { event_type: 'keydown', user_id: 'u1', session_id: 's1', k: [1, 2] },
    });
    expect(error).toEqual({
      message_id: null,
      client_id: received.client_id,
      status: 'error',
      server_timestamp: expect.any(Number) as unknown,
      path: ['client', 'ingest', 'parse', 'error'],
      category: null,
      size: 10,
      error: 'Malformed JSON',
      preview: '{"broken":',
    });
    expect(isWalk(received.path)).toBe(true);
    expect(isWalk(error.path)).toBe(true);
    expect(received.path.filter((id) => flowMap.nodes.find((n) => n.id === id)?.kind === 'category')).toEqual(
      ['keystroke'],
    );
  });

  it('batches events: early at MONITOR_BATCH_MAX, then at most one frame per flush, in order', async () => {
    const monitor = await open('/ws/monitor');
    await monitor.nextJson();
    const client = await open('/ws/behaviour');
    await sleep(100); // well past the previous flush
    for (let i = 0; i < 20; i++) client.send(`{"i":${i}}`);
    const frames: EventsFrame[] = [];
    const events = await collectEvents(monitor, 20, frames);
    expect(events.map((e) => ((e as ReceivedEvent).data as { i: number }).i)).toEqual([...Array(20).keys()]);
    // The 8th pending event flushes at once; the other 12 wait for the next flush interval.
    expect(frames.map((f) => f.events.length)).toEqual([8, 12]);
  });

  it("sends stats every second with this monitor's dropped count", async () => {
    const monitor = await open('/ws/monitor');
    const stats: { at: number; frame: Record<string, unknown> }[] = [];
    while (stats.length < 4) {
      const frame = await monitor.until((f) => f.type === 'stats', 2500);
      stats.push({ at: Date.now(), frame });
    }
    for (const { frame } of stats) {
      expect(frame).toEqual({
        type: 'stats',
        active_connections: expect.any(Number) as unknown,
        active_monitors: 1,
        total_messages: expect.any(Number) as unknown,
        total_errors: expect.any(Number) as unknown,
        messages_per_second: expect.any(Number) as unknown,
        total_duplicates: 0,
        total_gaps: 0,
        resumes: 0,
        dropped: 0,
        state_evictions: 0,
        nodes: expect.objectContaining({ client: expect.any(Number) as unknown }) as unknown,
      });
    }
    // One a second: wide bounds, as the machine may be busy, but neither a burst nor a skipped second.
    const gaps = stats.slice(1).map((s, i) => s.at - stats[i].at);
    expect(gaps.filter((gap) => gap < 500 || gap > 1800)).toEqual([]);
  });

  it('ignores frames a monitor sends: nothing is counted, and only stats frames come back', async () => {
    const monitor = await open('/ws/monitor');
    await monitor.nextJson(); // hello
    // Earlier tests' sockets have finished closing, so nothing but this test moves the counters.
    const before = await waitForHealth(
      running.http,
      (h) => h.active_connections === 0 && h.active_monitors === 1,
    );
    monitor.send('{"event_type":"tap"}');
    monitor.send('garbage');
    monitor.send(Buffer.from('{"event_type":"swipe"}'), { binary: true });
    // Two stats frames later (a second or more) the server has long read all three frames.
    const frames: { type: string }[] = [];
    while (frames.filter((f) => f.type === 'stats').length < 2) frames.push(await monitor.nextJson(2500));
    const after = await readHealth(running.http);
    expect(frames.map((f) => f.type)).toEqual(['stats', 'stats']);
    expect({ open: monitor.socket.readyState === monitor.socket.OPEN, after }).toEqual({
      open: true,
      after: { ...before, uptime_seconds: expect.any(Number) as unknown },
    });
  });
});

describe('A monitor that never reads (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({
      MONITOR_SLOW_TIMEOUT_MS: '1500',
      MONITOR_MAX_BUFFER_BYTES: String(1024 * 1024),
      // No pings: a heartbeat would drop the silent monitor by itself and hide the slow-monitor cut.
      HEARTBEAT_INTERVAL_MS: '0',
    });
  });
  afterAll(() => running.close());

  /** A raw WebSocket handshake whose socket then stops reading, so the server's buffer fills. */
  function stalledMonitor(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect(running.port, '127.0.0.1', () => {
        socket.write(
          'GET /ws/monitor HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      socket.once('data', (head) => {
        if (!head.toString().startsWith('HTTP/1.1 101')) reject(new Error(head.toString()));
        socket.pause();
        resolve(socket);
      });
      socket.on('error', () => undefined);
    });
  }

  it('keeps ingest acking 50 000 frames of 2 KB, drops for it, bounds memory and terminates it', async () => {
    const monitor = await stalledMonitor();
    // The frames queued for a monitor are Buffers: they count in `external`, not in the heap.
    const used = () => {
      global.gc!();
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    expect(global.gc).toEqual(expect.any(Function)); // run with NODE_OPTIONS=--expose-gc, as npm test does
    const usedBefore = used();

    const frame = JSON.stringify({ event_type: 'swipe', user_id: 'u', pad: 'x'.repeat(2000) });
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => WsClient.open(running.ws('/ws/behaviour'))),
    );
    let acked = 0;
    await Promise.all(
      clients.map(async (client) => {
        for (let sent = 0; sent < 10_000; sent += 100) {
          for (let i = 0; i < 100; i++) client.send(frame);
          for (let i = 0; i < 100; i++) {
            if ((await client.nextJson()).status === 'received') acked++;
          }
        }
      }),
    );
    expect(acked).toBe(50_000);

    const growthMb = (used() - usedBefore) / 2 ** 20;
    // 50 000 x 2 KB is ~100 MB of event text; a monitor that buffered it all would hold that much.
    expect(growthMb).toBeLessThan(48);

    // The stalled monitor stays over its buffer limit, so the server terminates it.
    let monitors = -1;
    for (let tries = 0; tries < 50 && monitors !== 0; tries++) {
      await sleep(200);
      monitors = ((await (await fetch(`${running.http}/health`)).json()) as { active_monitors: number })
        .active_monitors;
    }
    expect(monitors).toBe(0);
    // Its events were dropped, not queued: the drop counter says so.
    const metrics = await (await fetch(`${running.http}/metrics`)).text();
    expect(Number(/^cbsa_monitor_events_dropped_total (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    monitor.destroy();
    clients.forEach((c) => c.close());
    await expectServed(running.ws('/ws/behaviour'));
  }, 60_000);
});

describe('A monitor that falls behind and catches up (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ MONITOR_MAX_BUFFER_BYTES: '65536', MONITOR_SLOW_TIMEOUT_MS: '60000' });
  });
  afterAll(() => running.close());

  it('has its missed events counted in its own stats frames', async () => {
    const slow = await WsClient.open(running.ws('/ws/monitor'));
    const fast = await WsClient.open(running.ws('/ws/monitor'));
    slow.socket.pause();
    const client = await WsClient.open(running.ws('/ws/behaviour'));
    const frame = JSON.stringify({ event_type: 'tap', pad: 'y'.repeat(2000) });
    // Rounds of 50 frames (about 100 KB of events), acked before the next: the reading monitor gets
    // time to read between rounds, so only the paused one falls past its 64 KiB buffer.
    for (let sent = 0; sent < 20_000; sent += 50) {
      for (let i = 0; i < 50; i++) client.send(frame);
      for (let i = 0; i < 50; i++) await client.next();
    }
    slow.socket.resume();
    const slowStats = await slow.until<{ type: string; dropped: number }>(
      (f) => f.type === 'stats' && f.dropped > 0,
      10_000,
    );
    expect(slowStats.dropped).toBeGreaterThan(0);
    expect(slowStats.dropped).toBeLessThanOrEqual(20_000);
    const fastStats = await fast.until<{ type: string; dropped: number }>((f) => f.type === 'stats', 10_000);
    expect(fastStats.dropped).toBe(0);
    [slow, fast, client].forEach((c) => c.close());
    await expectServed(running.ws('/ws/behaviour'));
  }, 60_000);
});
