// The SDK against a small in-test protocol server: every answer the service can give, and the
// client's queue, window, reconnects, overflow and persistence.
import { jest } from '@jest/globals';
import { WebSocket } from 'ws';
import {
  type Ack,
  CbsaClient,
  type CbsaClientOptions,
  type Drop,
  MemoryStorage,
  type Status,
} from '../src/index.js';
import { FakeServer } from './fake-server.js';

const FAST = { minDelay: 20, maxDelay: 200, ackTimeout: 2_000 };

function until(predicate: () => boolean, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe(CbsaClient.name, () => {
  let server: FakeServer;
  const clients: CbsaClient[] = [];

  function client(options: Partial<CbsaClientOptions> = {}) {
    const acks: Ack[] = [];
    const drops: Drop[] = [];
    const statuses: Status[] = [];
    const c = new CbsaClient({
      WebSocket,
      ...FAST,
      onAck: (a) => acks.push(a),
      onDrop: (d) => drops.push(d),
      onStatus: (s) => statuses.push(s),
      ...options,
      url: options.url ?? server.url,
    });
    clients.push(c);
    return { c, acks, drops, statuses };
  }

  beforeEach(async () => {
    server = await FakeServer.start();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close(0);
    await server.close();
  });

  it('numbers events from 1, sends them with seq first, and confirms each once', async () => {
    const { c, acks } = client({ stream: 'install-1:session-1' });
    expect(c.send({ event_type: 'tap', x: 1, y: 2 })).toBe(1);
    expect(c.send({})).toBe(2);
    expect(c.send({ event_type: 'key', seq: 99 })).toBe(3); // its own seq is replaced
    await expect(c.flush(5_000)).resolves.toBe(true);
    expect(server.frames).toEqual([
      '{"seq":1,"event_type":"tap","x":1,"y":2}',
      '{"seq":2}',
      '{"seq":3,"event_type":"key"}',
    ]);
    expect(server.seqs('install-1:session-1')).toEqual([1, 2, 3]);
    expect(acks.map((a) => [a.seq, a.status, a.message_id])).toEqual([
      [1, 'received', 1],
      [2, 'received', 2],
      [3, 'received', 3],
    ]);
    expect(c.stats).toEqual({
      queued: 0,
      inflight: 0,
      acked: 3,
      duplicates: 0,
      dropped: 0,
      reconnects: 0,
      lastSeq: 3,
      status: 'connected',
    });
  });

  it('keeps at most `window` frames in flight', async () => {
    let inflight = 0;
    let most = 0;
    server.verdict = () => {
      most = Math.max(most, ++inflight);
      return 'store';
    };
    const { c } = client({ window: 4, onAck: () => inflight-- });
    for (let i = 0; i < 50; i++) c.send({ i });
    expect(c.stats.inflight).toBeLessThanOrEqual(4);
    await expect(c.flush()).resolves.toBe(true);
    expect(most).toBe(4);
    expect(server.seqs(c.streamId)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('resends after a disconnect from resume.last_seq: every event stored once, in order', async () => {
    let n = 0;
    // Store every event, but lose the acks of some and cut the connection every 37 frames.
    server.verdict = ({ ws }) => {
      n++;
      if (n % 37 === 0) {
        setImmediate(() => ws.terminate());
        return 'store-no-reply';
      }
      return n % 5 === 0 ? 'store-no-reply' : 'store';
    };
    const { c, acks } = client({ window: 8 });
    for (let i = 0; i < 300; i++) c.send({ i });
    await expect(c.flush(20_000)).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(server.stored.map((s) => s.data.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(new Set(acks.map((a) => a.seq)).size).toBe(300);
    expect(acks).toHaveLength(300);
    expect(c.stats.acked).toBe(300);
    expect(c.stats.reconnects).toBeGreaterThan(0);
  });

  it('counts a "duplicate" reply as confirmed', async () => {
    server.verdict = ({ seq }) =>
      seq === 2 ? { reply: JSON.stringify({ status: 'duplicate', server_timestamp: 1.5, seq: 2 }) } : 'store';
    const { c, acks } = client();
    c.send({ a: 1 });
    c.send({ a: 2 });
    c.send({ a: 3 });
    await expect(c.flush()).resolves.toBe(true);
    expect(acks[1]).toEqual({ seq: 2, status: 'duplicate', message_id: undefined, server_timestamp: 1.5 });
    expect(c.stats).toMatchObject({ acked: 3, duplicates: 1, queued: 0 });
  });

  it('drops an event answered "Invalid seq" and reports it', async () => {
    server.verdict = ({ seq }) => (seq === 2 ? { error: 'Invalid seq' } : 'store');
    const { c, drops } = client();
    c.send({ a: 1 });
    c.send({ a: 2 });
    c.send({ a: 3 });
    await expect(c.flush()).resolves.toBe(true);
    expect(drops).toEqual([{ seq: 2, reason: 'invalid_seq', event: '{"a":2}' }]);
    expect(server.seqs(c.streamId)).toEqual([1, 3]);
    expect(c.stats).toMatchObject({ acked: 2, dropped: 1, queued: 0 });
  });

  it('on "Rate limit exceeded" slows down and resends the refused events in order', async () => {
    // The fake server then refuses every later frame until the refused one comes again.
    let budget = 10;
    let refusals = 0;
    server.verdict = () => {
      if (budget-- > 0) return 'store';
      budget = 10;
      refusals++;
      return { error: 'Rate limit exceeded' };
    };
    const { c } = client({ window: 16 });
    for (let i = 0; i < 60; i++) c.send({ i });
    await expect(c.flush(20_000)).resolves.toBe(true);
    expect(refusals).toBeGreaterThan(3);
    expect(server.seqs(c.streamId)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(c.stats).toMatchObject({ reconnects: 0, dropped: 0, acked: 60 });
  });

  it('on "Service unavailable" reconnects after backoff and resumes from last_seq', async () => {
    let refusals = 3;
    server.verdict = ({ seq }) => (seq === 5 && refusals-- > 0 ? { error: 'Service unavailable' } : 'store');
    const { c, statuses } = client({ window: 4 });
    for (let i = 0; i < 10; i++) c.send({ i });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(c.stats.reconnects).toBe(3);
    expect(statuses.filter((s) => s === 'offline').length).toBeGreaterThanOrEqual(3);
  });

  it('on close 1013 resends after backoff', async () => {
    let closes = 2;
    server.verdict = ({ seq }) => (seq === 3 && closes-- > 0 ? { close: 1013 } : 'store');
    const { c } = client();
    for (let i = 0; i < 6; i++) c.send({ i });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.stats.reconnects).toBe(2);
  });

  it('on close 1009 drops only the frame that was too large', async () => {
    const { c, drops } = client({ window: 8 });
    for (let i = 0; i < 5; i++) c.send({ i });
    c.send({ big: 'x'.repeat(70 * 1024) });
    for (let i = 5; i < 10; i++) c.send({ i });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ seq: 6, reason: 'too_large' });
    expect(server.seqs(c.streamId)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
  });

  it('stops with status "unauthorized" on HTTP 401, and starts again with a new token', async () => {
    server.token = 'right';
    const { c, statuses } = client({ token: 'wrong' });
    c.send({ a: 1 });
    await until(() => c.stats.status === 'unauthorized');
    await expect(c.flush(5_000)).resolves.toBe(false);
    expect(statuses).toEqual(['connecting', 'unauthorized']);
    expect(server.connections).toBe(0);
    c.reconnect('right');
    await expect(c.flush()).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1]);
  });

  it('stops with status "replaced" when another connection takes the stream (4001)', async () => {
    const first = client({ stream: 'shared' });
    first.c.send({ a: 1 });
    await expect(first.c.flush()).resolves.toBe(true);
    const second = client({ stream: 'shared' });
    await until(() => first.c.stats.status === 'replaced');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(first.c.stats.status).toBe('replaced');
    expect(second.c.stats.status).toBe('connected');
    expect(server.connections).toBe(2); // the first one does not fight back
  });

  it('when the queue is full, drops the oldest waiting events and reports them', async () => {
    await server.close();
    const { c, drops } = client({ maxQueue: 5, url: 'ws://127.0.0.1:9/ws/behaviour' });
    for (let i = 1; i <= 8; i++) expect(c.send({ i })).toBe(i);
    expect(drops.map((d) => [d.seq, d.reason])).toEqual([
      [1, 'overflow'],
      [2, 'overflow'],
      [3, 'overflow'],
    ]);
    expect(c.stats).toMatchObject({ queued: 5, dropped: 3, lastSeq: 8 });
    server = await FakeServer.start();
  });

  it('bounds the queue by bytes too', async () => {
    await server.close();
    const { c, drops } = client({ maxQueueBytes: 100, url: 'ws://127.0.0.1:9/ws/behaviour' });
    for (let i = 0; i < 10; i++) c.send({ pad: 'x'.repeat(20) }); // 30 characters each
    expect(drops.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(c.stats.queued).toBe(3);
    server = await FakeServer.start();
  });

  it('keeps the queue, the stream id and the next seq in its storage across restarts', async () => {
    const storage = new MemoryStorage();
    server.verdict = () => ({ error: 'Service unavailable' }); // nothing gets through at first
    const first = client({ storage, maxDelay: 50 });
    first.c.send({ n: 1 });
    first.c.send({ n: 2 });
    await first.c.close(100); // gives up flushing; the events stay stored
    expect(first.c.stats.status).toBe('closed');
    server.verdict = () => 'store';
    const second = client({ storage });
    expect(second.c.streamId).toBe(first.c.streamId);
    expect(second.c.stats.queued).toBe(2);
    expect(second.c.send({ n: 3 })).toBe(3);
    await expect(second.c.flush()).resolves.toBe(true);
    expect(server.seqs(first.c.streamId)).toEqual([1, 2, 3]);
    expect(server.stored.map((s) => s.data.n)).toEqual([1, 2, 3]);
    await second.c.close();
    // All confirmed: nothing is left in the storage but the stream id and the next seq.
    expect(storage.load('cbsa/').sort()).toEqual([
      ['cbsa/' + first.c.streamId + '/n', '4'],
      ['cbsa/~', first.c.streamId],
    ]);
  });

  it('a new MemoryStorage means a new stream id', () => {
    const a = client().c;
    const b = client().c;
    expect(a.streamId).toMatch(/^[A-Za-z0-9._:@-]{1,200}$/);
    expect(a.streamId).not.toBe(b.streamId);
  });

  it('works on an asynchronous storage: events sent before it loaded are numbered after', async () => {
    const backing = new MemoryStorage();
    const slow = {
      load: (prefix: string) =>
        new Promise<[string, string][]>((r) => setTimeout(() => r(backing.load(prefix)), 50)),
      write: (set: [string, string][], remove: string[]) => Promise.resolve(backing.write(set, remove)),
    };
    const { c } = client({ storage: slow, stream: 'async-1' });
    expect(c.send({ early: true })).toBe(0);
    await c.ready;
    expect(c.send({ early: false })).toBe(2);
    await expect(c.flush()).resolves.toBe(true);
    expect(server.frames).toEqual(['{"seq":1,"early":true}', '{"seq":2,"early":false}']);
  });

  it('close() flushes what it can, then closes; a send afterwards is dropped and reported', async () => {
    const { c, drops } = client();
    for (let i = 0; i < 20; i++) c.send({ i });
    await c.close();
    expect(server.seqs(c.streamId)).toHaveLength(20);
    expect(c.stats.status).toBe('closed');
    await until(() => server.sockets.size === 0);
    expect(c.send({ late: true })).toBe(0);
    expect(drops).toEqual([{ seq: 0, reason: 'closed', event: '{"late":true}' }]);
  });

  it('skips seqs the server already has when the stream is ahead (last_seq beyond the queue)', async () => {
    server.lastSeq.set('ahead', 40);
    const { c } = client({ stream: 'ahead' });
    await until(() => c.stats.status === 'connected');
    expect(c.send({ a: 1 })).toBe(41);
    await expect(c.flush()).resolves.toBe(true);
    expect(server.seqs('ahead')).toEqual([41]);
  });

  it('reconnects with exponential backoff and full jitter, from minDelay up to maxDelay', async () => {
    await server.close();
    const delays: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    // Record the reconnect delays the client asks for, with Math.random at its extremes.
    const spy = jest.spyOn(globalThis, 'setTimeout').mockImplementation((fn: () => void, ms?: number) => {
      if (ms && new Error().stack?.includes('/client/src/client.ts')) delays.push(ms);
      return realSetTimeout(fn, ms);
    });
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    try {
      const { c } = client({ url: 'ws://127.0.0.1:9/ws/behaviour', minDelay: 10, maxDelay: 80 });
      c.send({ a: 1 });
      await until(() => delays.length >= 6, 5_000);
      // The ceiling doubles from minDelay and stops at maxDelay; the delay is random * ceiling.
      expect(delays.slice(0, 6).map((d) => Math.round(d))).toEqual([10, 20, 40, 80, 80, 80]);
      random.mockReturnValue(0.25);
      const before = delays.length;
      await until(() => delays.length >= before + 2, 5_000);
      expect(delays.slice(before, before + 2).map((d) => Math.round(d))).toEqual([20, 20]);
    } finally {
      spy.mockRestore();
      random.mockRestore();
    }
    server = await FakeServer.start();
  });

  it('backs off from 0.5 s up to 30 s by default', async () => {
    await server.close();
    const delays: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    // The client's own timers fire at once (so 30 s ceilings take no time); their delays are recorded.
    const spy = jest.spyOn(globalThis, 'setTimeout').mockImplementation((fn: () => void, ms?: number) => {
      const mine = new Error().stack?.includes('/client/src/client.ts') === true;
      if (mine && ms && ms !== 12_345) delays.push(ms); // not the 401 probe's bound (ackTimeout)
      return realSetTimeout(fn, mine ? 0 : ms);
    });
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    try {
      const c = new CbsaClient({ url: 'ws://127.0.0.1:9/ws/behaviour', WebSocket, ackTimeout: 12_345 });
      clients.push(c);
      c.send({ a: 1 });
      await until(() => delays.length >= 8, 10_000);
      expect(delays.slice(0, 8).map((d) => Math.round(d))).toEqual([
        500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
      ]);
    } finally {
      spy.mockRestore();
      random.mockRestore();
    }
    server = await FakeServer.start();
  });

  it('replaces a socket that goes silent with frames in flight (ackTimeout)', async () => {
    let silent = true;
    // The first connection stores seq 2 but never answers again, as a half-open TCP connection would.
    server.verdict = ({ seq }) => (seq >= 2 && silent ? 'store-no-reply' : 'store');
    const { c } = client({ ackTimeout: 300 });
    c.send({ n: 1 });
    c.send({ n: 2 });
    await until(() => c.stats.acked === 1);
    silent = false;
    await expect(c.flush(5_000)).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1, 2]);
    expect(c.stats).toMatchObject({ acked: 2, reconnects: 1 });
  });

  it('rejects an invalid stream id', () => {
    expect(() => new CbsaClient({ url: server.url, WebSocket, stream: 'has space' })).toThrow(
      'Invalid stream id',
    );
  });
});
