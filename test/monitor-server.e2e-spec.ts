// Issue "server truth from the first second": cumulative node counts in hello and stats, the replay
// on connect, the endpoints in hello, MAX_MONITORS and the limits on what a monitor may send.
import WebSocket from 'ws';
import type { EventsFrame, HelloFrame, ReceivedEvent } from '../src/protocol/index.js';
import { type RunningApp, startApp } from './support/app.js';
import { WsClient, expectServed } from '../harness/ws-client.mjs';

const ZERO_NODES = {
  client: 0,
  ingest: 0,
  parse: 0,
  error: 0,
  classify: 0,
  touch: 0,
  gesture: 0,
  keystroke: 0,
  motion: 0,
  other: 0,
  stream: 0,
  ack: 0,
};

/** Sends frames on one ingest socket and waits for every reply. */
async function ingest(running: RunningApp, frames: string[]): Promise<number[]> {
  const client = await WsClient.open(running.ws(running.config.websocketEndpoint));
  const ids: number[] = [];
  for (const frame of frames) {
    client.send(frame);
    ids.push((await client.nextJson<{ message_id: number }>()).message_id);
  }
  client.close();
  return ids;
}

/** Resolves with the HTTP status a refused upgrade gets. */
function refusedStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.on('open', () => reject(new Error('upgrade was accepted')));
    socket.on('error', () => undefined);
  });
}

describe('Monitor: server truth from the first second (e2e)', () => {
  let running: RunningApp;
  const clients: WsClient[] = [];
  const monitor = async (path = '/ws/monitor') => {
    const client = await WsClient.open(running.ws(path));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    running = await startApp({ MONITOR_REPLAY: '5', MAX_MONITORS: '3', MONITOR_FLUSH_MS: '20' });
  });
  afterEach(() => clients.splice(0).forEach((c) => c.socket.terminate()));
  afterAll(() => running.close());

  it('gives a monitor opened after N events the counts of every node in hello, then the 5 latest events as replay', async () => {
    const fresh = await monitor();
    expect(await fresh.nextJson<HelloFrame>()).toEqual({
      type: 'hello',
      app: { name: 'CBSA Backend', version: running.config.version },
      started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      flow_map: '/event-flow-map',
      endpoints: { ingest: '/ws/behaviour', monitor: '/ws/monitor', flow_map: '/event-flow-map' },
      nodes: ZERO_NODES,
      replay: { events: 5, scope: 'instance' },
    });
    fresh.socket.terminate();

    const frames = [
      ...Array.from({ length: 4 }, (_, i) => `{"event_type":"tap","n":${i}}`),
      ...Array.from({ length: 3 }, (_, i) => `{"event_type":"keydown","n":${i}}`),
      '{not json',
    ];
    const ids = await ingest(running, frames);
    const late = await monitor();
    const hello = await late.nextJson<HelloFrame>();
    expect(hello.nodes).toEqual({
      ...ZERO_NODES,
      client: 8,
      ingest: 8,
      parse: 8,
      error: 1,
      classify: 7,
      touch: 4,
      keystroke: 3,
      stream: 7,
      ack: 7,
    });
    const replay = await late.nextJson<EventsFrame>();
    expect(replay.replay).toBe(true);
    // The 5 latest, oldest first: touch #3, three keydowns, then the malformed frame.
    expect(replay.events.map((e) => [e.message_id, e.status, e.category])).toEqual([
      [ids[3], 'received', 'touch'],
      [ids[4], 'received', 'keystroke'],
      [ids[5], 'received', 'keystroke'],
      [ids[6], 'received', 'keystroke'],
      [null, 'error', null],
    ]);
    expect((replay.events[0] as ReceivedEvent).data).toEqual({ event_type: 'tap', n: 3 });

    const stats = await late.until<{ type: string; nodes: Record<string, number> }>(
      (f) => f.type === 'stats',
    );
    expect(stats.nodes).toEqual(hello.nodes);
  });

  it('marks only the replay frame: live events that follow carry no "replay"', async () => {
    const watcher = await monitor();
    await watcher.nextJson();
    expect((await watcher.nextJson<EventsFrame>()).replay).toBe(true);
    const [id] = await ingest(running, ['{"event_type":"swipe"}']);
    const live = await watcher.until<EventsFrame>((f) => f.type === 'events');
    expect(live).toEqual({
      type: 'events',
      events: [expect.objectContaining({ message_id: id }) as unknown],
    });
  });

  it('refuses the monitor over MAX_MONITORS with HTTP 503 (upgrade and plain GET), and admits one again after a close', async () => {
    const open = [await monitor(), await monitor(), await monitor()];
    expect(await refusedStatus(running.ws('/ws/monitor'))).toBe(503);
    expect((await fetch(`${running.http}/ws/monitor`)).status).toBe(503);
    await expectServed(running.ws('/ws/behaviour'));
    open[0].close();
    await open[0].waitClosed();
    const again = await monitor();
    expect((await again.nextJson()).type).toBe('hello');
  });

  it('closes a monitor that sends a frame over 4 KiB with 1008, and serves a fresh monitor', async () => {
    const rude = await monitor();
    rude.send('x'.repeat(4096));
    rude.send('y'.repeat(4097));
    expect(await rude.waitClosed()).toEqual({
      code: 1008,
      reason: 'Monitor frames are limited to 4096 bytes',
    });
    const fresh = await monitor();
    expect((await fresh.nextJson()).type).toBe('hello');
    await expectServed(running.ws('/ws/behaviour'));
  });

  it('closes a monitor that sends more than 10 frames in a second with 1008', async () => {
    const chatty = await monitor();
    for (let i = 0; i < 11; i++) chatty.send('{}');
    expect(await chatty.waitClosed()).toEqual({
      code: 1008,
      reason: 'Monitors may send at most 10 frames per second',
    });
    const fresh = await monitor();
    expect((await fresh.nextJson()).type).toBe('hello');
  });
});

describe('Monitor on a custom MONITOR_ENDPOINT (e2e)', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ MONITOR_ENDPOINT: '/custom/watch', WEBSOCKET_ENDPOINT: '/in' });
  });
  afterAll(() => running.close());

  it('says in hello where the sockets are', async () => {
    const watcher = await WsClient.open(running.ws('/custom/watch'));
    const hello = await watcher.nextJson<HelloFrame>();
    watcher.socket.terminate();
    expect(hello.endpoints).toEqual({ ingest: '/in', monitor: '/custom/watch', flow_map: '/event-flow-map' });
    expect(hello.replay).toEqual({ events: 0, scope: 'instance' });
  });
});
