// Every line of the ingest contract on /ws/behaviour, against the real app.
import { request } from 'node:http';
import WebSocket from 'ws';
import { type RunningApp, startApp } from './support/app.js';
import { WsClient, expectServed } from '../harness/ws-client.mjs';

const ACK = {
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
};
const MALFORMED = { status: 'error', message: 'Malformed JSON' };

describe('Ingest /ws/behaviour (e2e)', () => {
  let running: RunningApp;
  let url: string;
  const clients: WsClient[] = [];
  const open = async () => {
    const client = await WsClient.open(url);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    running = await startApp({ MONITOR_FLUSH_MS: '10' });
    url = running.ws('/ws/behaviour');
  });
  afterEach(() => clients.splice(0).forEach((c) => c.socket.terminate()));
  afterAll(() => running.close());

  it.each([
    ['an object', '{"event_type":"tap","x":1}'],
    ['an array', '[1,2,3]'],
    ['a string', '"hello"'],
    ['a number', '42.5'],
    ['true', 'true'],
    ['false', 'false'],
    ['null', 'null'],
  ])('acks %s with exactly one ack frame', async (_kind, frame) => {
    const client = await open();
    client.send(frame);
    const raw = await client.next();
    expect(raw).toMatch(/^\{"status":"received","server_timestamp":\d+\.\d{3},"message_id":\d+\}$/);
    const ack = JSON.parse(raw) as { server_timestamp: number; message_id: number };
    expect(ack).toEqual(ACK);
    expect(Number.isInteger(ack.message_id)).toBe(true);
    expect(Math.abs(ack.server_timestamp - Date.now() / 1000)).toBeLessThan(60);
    await expect(client.next(200)).rejects.toThrow(/no frame/);
  });

  it('numbers messages from a process-wide counter starting at 1, in send order', async () => {
    const fresh = await startApp();
    try {
      const a = await WsClient.open(fresh.ws('/ws/behaviour'));
      const b = await WsClient.open(fresh.ws('/ws/behaviour'));
      a.send('{}');
      expect(await a.nextJson()).toEqual({ ...ACK, message_id: 1 });
      b.send('{}');
      expect(await b.nextJson()).toEqual({ ...ACK, message_id: 2 });
      for (let i = 0; i < 5; i++) a.send(`{"i":${i}}`);
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await a.nextJson<{ message_id: number }>()).message_id);
      expect(ids).toEqual([3, 4, 5, 6, 7]);
      a.close();
      b.close();
    } finally {
      await fresh.close();
    }
  });

  it.each([
    ['empty', ''],
    ['NaN', 'NaN'],
    ['a trailing comma', '{"a":1,}'],
    ['single quotes', "{'a':1}"],
    ['two objects back to back', '{"a":1}{"b":2}'],
    ['a NUL byte', '{"a":\u0000}'],
    ['plain text', 'hello'],
  ])('answers %s with the malformed error, consumes no id and stays open', async (_name, frame) => {
    const client = await open();
    client.send('{}');
    const before = (await client.nextJson<{ message_id: number }>()).message_id;
    client.send(frame);
    expect(await client.nextJson()).toEqual(MALFORMED);
    client.send('{"after":true}');
    expect(await client.nextJson()).toEqual({ ...ACK, message_id: before + 1 });
    await expectServed(url);
  });

  it('reads a binary frame as UTF-8 text', async () => {
    const client = await open();
    client.send(Buffer.from('{"event_type":"swipe","name":"Zoë"}'), { binary: true });
    expect(await client.nextJson()).toEqual(ACK);
    client.send(Buffer.from('not json'), { binary: true });
    expect(await client.nextJson()).toEqual(MALFORMED);
    await expectServed(url);
  });

  it('closes an oversize frame with 1009 while other connections carry on', async () => {
    const bystander = await open();
    const client = await open();
    client.send(`"${'x'.repeat(running.config.maxMessageBytes)}"`);
    expect((await client.waitClosed()).code).toBe(1009);
    bystander.send('{}');
    expect(await bystander.nextJson()).toEqual(ACK);
    await expectServed(url);
  });

  it('accepts a frame of exactly MAX_MESSAGE_BYTES', async () => {
    const client = await open();
    client.send(`"${'x'.repeat(running.config.maxMessageBytes - 2)}"`);
    expect(await client.nextJson()).toEqual(ACK);
  });

  it('closes a text frame with invalid UTF-8 with 1007 while other connections carry on', async () => {
    const bystander = await open();
    const client = await open();
    client.send(Buffer.from([0x22, 0xff, 0xfe, 0x22]), { binary: false });
    expect((await client.waitClosed()).code).toBe(1007);
    bystander.send('[]');
    expect(await bystander.nextJson()).toEqual(ACK);
    await expectServed(url);
  });

  it('acks 100 000 levels of nesting while a monitor is connected, and the monitor gets it', async () => {
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    clients.push(monitor);
    await monitor.until((f) => f.type === 'hello');
    const client = await open();
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    client.send(deep);
    const ack = await client.nextJson<{ message_id: number }>();
    expect(ack).toEqual(ACK);
    const batch = await monitor.until<{ type: string; events: { message_id: number; size: number }[] }>(
      (f) => f.type === 'events' && f.events.some((e) => e.message_id === ack.message_id),
    );
    expect(batch.events.find((e) => e.message_id === ack.message_id)?.size).toBe(deep.length);
    await expectServed(url);
  });

  it('treats __proto__ and constructor keys as plain data', async () => {
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    clients.push(monitor);
    const client = await open();
    const frame =
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"event_type":"tap"}';
    client.send(frame);
    const ack = await client.nextJson<{ message_id: number }>();
    expect(ack).toEqual(ACK);
    const batch = await monitor.until<{ type: string; events: { message_id: number; data: unknown }[] }>(
      (f) => f.type === 'events' && f.events.some((e) => e.message_id === ack.message_id),
    );
    const event = batch.events.find((e) => e.message_id === ack.message_id)!;
    expect(Object.getOwnPropertyNames(event.data)).toEqual(['__proto__', 'constructor', 'event_type']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expectServed(url);
  });

  it.each(['/ws/other', '/', '/ws/behaviour/extra', '/health'])(
    'refuses an upgrade on %s with 404 (no endpoint there)',
    async (path) => {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(running.ws(path));
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => reject(new Error('upgraded')));
        ws.on('error', () => undefined);
      });
      expect(status).toBe(404);
      await expectServed(url);
    },
  );

  it('refuses a hand-written upgrade on an unknown path with 404, never 101', async () => {
    const head = await new Promise<string>((resolve, reject) => {
      const req = request(`${running.http}/nowhere`, {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version': '13',
        },
      });
      req.on('response', (res) => resolve(`${res.statusCode}`));
      req.on('upgrade', (res) => resolve(`${res.statusCode}`));
      req.on('error', reject);
      req.end();
    });
    expect(head).toBe('404');
  });

  it('acks 20 clients x 50 frames with unique ids, increasing per connection', async () => {
    const senders = await Promise.all(Array.from({ length: 20 }, () => open()));
    const perClient = await Promise.all(
      senders.map(async (client, c) => {
        for (let i = 0; i < 50; i++) client.send(JSON.stringify({ user_id: `u${c}`, event_type: 'tap', i }));
        const ids: number[] = [];
        for (let i = 0; i < 50; i++) {
          const ack = await client.nextJson<{ status: string; message_id: number }>();
          expect(ack.status).toBe('received');
          ids.push(ack.message_id);
        }
        return ids;
      }),
    );
    for (const ids of perClient)
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
    expect(new Set(perClient.flat()).size).toBe(1000);
  });
});
