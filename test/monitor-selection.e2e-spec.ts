// Monitors that scale: ?sample=N never exceeds N events per second and never hides errors,
// ?filter= delivers exactly the matching events in order while the full stream runs, and invalid
// parameters get HTTP 400 with a message.
import WebSocket from 'ws';
import type { EventsFrame, MonitorEvent } from '../src/protocol/index.js';
import { type RunningApp, startApp } from './support/app.js';
import { TestClient, expectServed } from './support/ws-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every events frame a monitor receives, with the time it arrived. */
function record(monitor: TestClient): { at: number; frame: EventsFrame }[] {
  const frames: { at: number; frame: EventsFrame }[] = [];
  monitor.socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as EventsFrame;
    if (frame.type === 'events' && frame.replay !== true) frames.push({ at: Date.now(), frame });
  });
  return frames;
}

function upgradeRefusal(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.on('open', () => reject(new Error('upgrade was accepted')));
    socket.on('error', () => undefined);
  });
}

describe('Monitor sampling and filters (e2e)', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ MONITOR_FLUSH_MS: '50' });
  });
  afterAll(() => running.close());

  // Ten malformed frames a second stay within the quarter of ?sample=60 (15/s) held for problems.
  it('?sample=60 sends at most 60 events per second, says what each frame stands for, and includes every error', async () => {
    const monitor = await TestClient.open(running.ws('/ws/monitor?sample=60'));
    const frames = record(monitor);
    const producer = await TestClient.open(running.ws('/ws/behaviour'));
    const started = Date.now();
    const errors: string[] = [];
    let sent = 0;
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 60; i++) producer.send(`{"event_type":"tap","n":${sent++}}`);
      const bad = `{broken ${burst}`;
      errors.push(bad);
      producer.send(bad);
      sent++;
      await sleep(100);
    }
    for (let i = 0; i < sent; i++) await producer.nextJson();
    await sleep(300);
    const elapsed = (Date.now() - started) / 1000;
    const events = frames.flatMap((f) => f.frame.events);
    expect(events.length).toBeLessThanOrEqual(60 * Math.ceil(elapsed + 1));
    for (const { frame } of frames) {
      expect(frame.sampled_from).toBeGreaterThanOrEqual(frame.events.length);
    }
    const previews = events
      .filter((e) => e.status === 'error')
      .map((e) => (e as { preview: string }).preview);
    expect(previews).toEqual(errors);
    expect(events.length).toBeLessThan(sent / 4);
    monitor.close();
    producer.close();
  });

  it("?filter=user_id:target delivers exactly that user's events, in order, while a full monitor gets everything", async () => {
    const filtered = await TestClient.open(running.ws('/ws/monitor?filter=user_id:target'));
    const full = await TestClient.open(running.ws('/ws/monitor'));
    const filteredFrames = record(filtered);
    const fullFrames = record(full);
    const producer = await TestClient.open(running.ws('/ws/behaviour'));
    const total = 2000;
    for (let i = 0; i < total; i++) {
      producer.send(JSON.stringify({ event_type: 'tap', user_id: i % 10 === 0 ? 'target' : `u${i}`, n: i }));
    }
    const ids: number[] = [];
    for (let i = 0; i < total; i++) ids.push((await producer.nextJson<{ message_id: number }>()).message_id);
    const wanted = ids.filter((_, i) => i % 10 === 0);
    const deadline = Date.now() + 5000;
    while (fullFrames.flatMap((f) => f.frame.events).length < total && Date.now() < deadline) await sleep(50);
    await sleep(200);
    const got = filteredFrames.flatMap((f) => f.frame.events) as (MonitorEvent & {
      data: { user_id: string };
    })[];
    expect(got.map((e) => e.message_id)).toEqual(wanted);
    expect(got.every((e) => e.data.user_id === 'target')).toBe(true);
    expect(filteredFrames.every((f) => f.frame.sampled_from === undefined)).toBe(true);
    expect(fullFrames.flatMap((f) => f.frame.events).map((e) => e.message_id)).toEqual(ids);
    [filtered, full, producer].forEach((c) => c.close());
  });

  it('ANDs terms: category:touch status:error matches nothing, status:error matches malformed frames', async () => {
    const none = await TestClient.open(running.ws('/ws/monitor?filter=category:touch%20status:error'));
    const bad = await TestClient.open(running.ws('/ws/monitor?filter=status:error'));
    const noneFrames = record(none);
    const badFrames = record(bad);
    const producer = await TestClient.open(running.ws('/ws/behaviour'));
    for (const f of ['{"event_type":"tap"}', '{oops', '{"event_type":"tap"}']) {
      producer.send(f);
      await producer.nextJson();
    }
    await sleep(300);
    expect(noneFrames).toEqual([]);
    expect(
      badFrames.flatMap((f) => f.frame.events).map((e) => [e.status, (e as { preview?: string }).preview]),
    ).toEqual([['error', '{oops']]);
    [none, bad, producer].forEach((c) => c.close());
  });

  it.each([
    ['sample=0', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['filter=colour:red', 'Unknown filter "colour"; use user_id:, session_id:, category:, status:, client:'],
    ['filter=status:ok', 'Filter status: takes only "error"'],
  ])('refuses ?%s with HTTP 400 and a message, on the upgrade and a plain GET', async (query, message) => {
    expect(await upgradeRefusal(running.ws(`/ws/monitor?${query}`))).toEqual({ status: 400, body: message });
    const res = await fetch(`${running.http}/ws/monitor?${query}`);
    expect({ status: res.status, body: await res.text() }).toEqual({ status: 400, body: message });
    const fresh = await TestClient.open(running.ws('/ws/monitor'));
    expect((await fresh.nextJson()).type).toBe('hello');
    fresh.close();
    await expectServed(running.ws('/ws/behaviour'));
  });
});
