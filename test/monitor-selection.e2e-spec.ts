// Monitors that scale: ?sample=N never exceeds N events per second and never hides errors, gaps or
// duplicates, ?filter= (stream:, user_id:, ...) delivers exactly the matching events in order while
// the full stream runs, and invalid parameters get HTTP 400 with a message.
import WebSocket from 'ws';
import type { EventsFrame, MonitorEvent } from '../src/protocol/index.js';
import { type RunningApp, startApp } from './support/app.js';
import { WsClient, expectServed } from '../harness/ws-client.mjs';
import { sleep } from '../harness/wait.mjs';

/** Every events frame a monitor receives, with the time it arrived. */
function record(monitor: WsClient): { at: number; frame: EventsFrame }[] {
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
    const monitor = await WsClient.open(running.ws('/ws/monitor?sample=60'));
    const frames = record(monitor);
    const producer = await WsClient.open(running.ws('/ws/behaviour'));
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

  it('?sample=800 includes every gap, duplicate and malformed frame while it samples the rest away', async () => {
    // 10 places per flush are kept for problems: 3 per burst, even when bursts merge into one flush.
    const monitor = await WsClient.open(running.ws('/ws/monitor?sample=800'));
    const frames = record(monitor);
    const phone = await WsClient.open(running.ws('/ws/behaviour?stream=phone-9:s1'));
    expect(await phone.nextJson()).toEqual({ type: 'resume', stream: 'phone-9:s1', last_seq: 0 });
    const gaps: [number, number][] = [];
    const duplicates: number[] = [];
    const malformed: string[] = [];
    let seq = 0;
    let sent = 0;
    for (let burst = 0; burst < 15; burst++) {
      // 200 ordinary events, then one of each problem: a sample of 40 per flush must keep all three.
      for (let i = 0; i < 200; i++) phone.send(JSON.stringify({ event_type: 'tap', seq: ++seq }));
      seq += 2;
      phone.send(JSON.stringify({ event_type: 'tap', seq: ++seq }));
      gaps.push([seq, 2]);
      const old = seq - 30;
      phone.send(JSON.stringify({ event_type: 'tap', seq: old }));
      duplicates.push(old);
      const bad = `{torn ${burst}`;
      phone.send(bad);
      malformed.push(bad);
      sent += 203;
      await sleep(200);
    }
    const replies: { status: string }[] = [];
    for (let i = 0; i < sent; i++) replies.push(await phone.nextJson<{ status: string }>());
    expect(replies.filter((r) => r.status === 'duplicate')).toHaveLength(15);
    await sleep(300);
    const events = frames.flatMap((f) => f.frame.events);
    expect(events.filter((e) => (e.gap ?? 0) > 0).map((e) => [e.seq, e.gap])).toEqual(gaps);
    expect(events.filter((e) => e.status === 'duplicate').map((e) => e.seq)).toEqual(duplicates);
    expect(events.filter((e) => e.status === 'error').map((e) => (e as { preview: string }).preview)).toEqual(
      malformed,
    );
    // It did sample: most ordinary events were left out.
    expect(events.length).toBeLessThan(sent / 2);
    monitor.close();
    phone.close();
  });

  it('?filter=stream:<id> delivers exactly that stream (received, gap and duplicate) in order while other streams run', async () => {
    const filtered = await WsClient.open(running.ws('/ws/monitor?filter=stream:install-7:sess%402'));
    const full = await WsClient.open(running.ws('/ws/monitor'));
    const filteredFrames = record(filtered);
    const fullFrames = record(full);
    const target = await WsClient.open(running.ws('/ws/behaviour?stream=install-7:sess@2'));
    const other = await WsClient.open(running.ws('/ws/behaviour?stream=install-7:sess@3'));
    const plain = await WsClient.open(running.ws('/ws/behaviour'));
    await target.nextJson();
    await other.nextJson();
    const seqs: number[] = [];
    for (let s = 1; s <= 300; s++) if (s < 101 || s > 103) seqs.push(s);
    seqs.push(50); // resent: a duplicate
    let n = 0;
    for (const s of seqs) {
      target.send(JSON.stringify({ event_type: 'tap', seq: s }));
      for (let k = 0; k < 5; k++) {
        other.send(JSON.stringify({ event_type: 'tap', seq: ++n }));
        plain.send(JSON.stringify({ event_type: 'tap', user_id: 'install-7:sess@2', n }));
      }
    }
    const expected: unknown[] = [];
    for (const s of seqs) {
      const ack = await target.nextJson<{ status: string; message_id?: number; seq: number }>();
      expected.push({
        message_id: ack.message_id ?? null,
        status: ack.status,
        stream: 'install-7:sess@2',
        seq: s,
        ...(s === 104 && { gap: 3 }),
      });
    }
    for (let i = 0; i < n; i++) {
      await other.nextJson();
      await plain.nextJson();
    }
    const total = seqs.length + 2 * n;
    const deadline = Date.now() + 5000;
    while (fullFrames.flatMap((f) => f.frame.events).length < total && Date.now() < deadline) await sleep(50);
    await sleep(200);
    expect(fullFrames.flatMap((f) => f.frame.events)).toHaveLength(total);
    const got = filteredFrames
      .flatMap((f) => f.frame.events)
      .map((e) => ({
        message_id: e.message_id,
        status: e.status,
        stream: e.stream,
        seq: e.seq,
        ...(e.gap !== undefined && { gap: e.gap }),
      }));
    expect(got).toEqual(expected);
    expect(got.at(-1)).toEqual({
      message_id: null,
      status: 'duplicate',
      stream: 'install-7:sess@2',
      seq: 50,
    });
    expect(filteredFrames.every((f) => f.frame.sampled_from === undefined)).toBe(true);
    [filtered, full, target, other, plain].forEach((c) => c.close());
  });

  it("?filter=user_id:target delivers exactly that user's events, in order, while a full monitor gets everything", async () => {
    const filtered = await WsClient.open(running.ws('/ws/monitor?filter=user_id:target'));
    const full = await WsClient.open(running.ws('/ws/monitor'));
    const filteredFrames = record(filtered);
    const fullFrames = record(full);
    const producer = await WsClient.open(running.ws('/ws/behaviour'));
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
    const none = await WsClient.open(running.ws('/ws/monitor?filter=category:touch%20status:error'));
    const bad = await WsClient.open(running.ws('/ws/monitor?filter=status:error'));
    const noneFrames = record(none);
    const badFrames = record(bad);
    const producer = await WsClient.open(running.ws('/ws/behaviour'));
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
    [
      'filter=colour:red',
      'Unknown filter "colour"; use stream:, user_id:, session_id:, category:, status:, client:',
    ],
    ['filter=stream:a%2Fb', 'Filter stream: takes a stream id (1 to 200 of A-Z a-z 0-9 . _ : @ -)'],
    ['filter=status:ok', 'Filter status: takes only "error"'],
  ])('refuses ?%s with HTTP 400 and a message, on the upgrade and a plain GET', async (query, message) => {
    expect(await upgradeRefusal(running.ws(`/ws/monitor?${query}`))).toEqual({ status: 400, body: message });
    const res = await fetch(`${running.http}/ws/monitor?${query}`);
    expect({ status: res.status, body: await res.text() }).toEqual({ status: 400, body: message });
    const fresh = await WsClient.open(running.ws('/ws/monitor'));
    expect((await fresh.nextJson()).type).toBe('hello');
    fresh.close();
    await expectServed(running.ws('/ws/behaviour'));
  });
});
