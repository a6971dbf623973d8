// The SDK against a small in-test protocol server: every answer the service can give, and the
// client's queue, window, reconnects, overflow and persistence.
import { WebSocket } from 'ws';
import {
  type Ack,
  CbsaClient,
  type CbsaClientOptions,
  type Drop,
  MemoryStorage,
  type QueueStorage,
  type StorageEntry,
  type Status,
  type Tamper,
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
    expect(await c.send({ event_type: 'tap', x: 1, y: 2 })).toBe(1);
    expect(await c.send({})).toBe(2);
    expect(await c.send({ event_type: 'key', seq: 99 })).toBe(3); // its own seq is replaced
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
    for (let i = 0; i < 49; i++) void c.send({ i });
    await c.send({ i: 49 });
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
    for (let i = 0; i < 300; i++) void c.send({ i });
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
    void c.send({ a: 1 });
    void c.send({ a: 2 });
    void c.send({ a: 3 });
    await expect(c.flush()).resolves.toBe(true);
    expect(acks[1]).toEqual({ seq: 2, status: 'duplicate', message_id: undefined, server_timestamp: 1.5 });
    expect(c.stats).toMatchObject({ acked: 3, duplicates: 1, queued: 0 });
  });

  it('confirms a "quarantined" reply with its errors and never resends it', async () => {
    const errors = ['/amount must be number'];
    server.verdict = ({ seq }) =>
      seq === 2
        ? {
            reply: JSON.stringify({ status: 'quarantined', server_timestamp: 2.5, message_id: 7, seq: 2, errors }),
          }
        : 'store';
    const { c, acks, drops } = client();
    void c.send({ a: 1 });
    void c.send({ a: 2 });
    void c.send({ a: 3 });
    await expect(c.flush()).resolves.toBe(true);
    expect(acks[1]).toEqual({ seq: 2, status: 'quarantined', message_id: 7, server_timestamp: 2.5, errors });
    expect(acks.map((a) => a.status)).toEqual(['received', 'quarantined', 'received']);
    expect(drops).toEqual([]);
    expect(c.stats).toMatchObject({ acked: 3, duplicates: 0, queued: 0 });
    // Sent once: no retry of the quarantined frame.
    expect(server.frames.filter((f) => (JSON.parse(f) as { seq?: number }).seq === 2)).toHaveLength(1);
  });

  it('drops an event answered "Invalid seq" and reports it', async () => {
    server.verdict = ({ seq }) => (seq === 2 ? { error: 'Invalid seq' } : 'store');
    const { c, drops } = client();
    void c.send({ a: 1 });
    void c.send({ a: 2 });
    void c.send({ a: 3 });
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
    for (let i = 0; i < 60; i++) void c.send({ i });
    await expect(c.flush(20_000)).resolves.toBe(true);
    expect(refusals).toBeGreaterThan(3);
    expect(server.seqs(c.streamId)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(c.stats).toMatchObject({ reconnects: 0, dropped: 0, acked: 60 });
  });

  it('on "Service unavailable" reconnects after backoff and resumes from last_seq', async () => {
    let refusals = 3;
    server.verdict = ({ seq }) => (seq === 5 && refusals-- > 0 ? { error: 'Service unavailable' } : 'store');
    const { c, statuses } = client({ window: 4 });
    for (let i = 0; i < 10; i++) void c.send({ i });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(c.stats.reconnects).toBe(3);
    expect(statuses.filter((s) => s === 'offline').length).toBeGreaterThanOrEqual(3);
  });

  it('on close 1013 resends after backoff', async () => {
    let closes = 2;
    server.verdict = ({ seq }) => (seq === 3 && closes-- > 0 ? { close: 1013 } : 'store');
    const { c } = client();
    for (let i = 0; i < 6; i++) void c.send({ i });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.stats.reconnects).toBe(2);
  });

  it('on close 1009 drops only the frame that was too large', async () => {
    const { c, drops } = client({ window: 8 });
    for (let i = 0; i < 5; i++) void c.send({ i });
    void c.send({ big: 'x'.repeat(70 * 1024) });
    for (let i = 5; i < 10; i++) void c.send({ i });
    await expect(c.flush(10_000)).resolves.toBe(true);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ seq: 6, reason: 'too_large' });
    expect(server.seqs(c.streamId)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
  });

  it('stops with status "unauthorized" on HTTP 401, and starts again with a new token', async () => {
    server.token = 'right';
    const { c, statuses } = client({ token: 'wrong' });
    await c.send({ a: 1 });
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
    await first.c.send({ a: 1 });
    await expect(first.c.flush()).resolves.toBe(true);
    // Another process of the same device (its own storage) on the same stream.
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
    for (let i = 1; i <= 8; i++) expect(await c.send({ i })).toBe(i);
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
    for (let i = 0; i < 10; i++) await c.send({ pad: 'x'.repeat(20) }); // 30 characters each
    expect(drops.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(c.stats.queued).toBe(3);
    server = await FakeServer.start();
  });

  it('keeps the queue, the stream id and the next seq in its storage across restarts', async () => {
    const storage = new MemoryStorage();
    server.verdict = () => ({ error: 'Service unavailable' }); // nothing gets through at first
    const first = client({ storage, maxDelay: 50 });
    await first.c.send({ n: 1 });
    await first.c.send({ n: 2 });
    await first.c.close(100); // gives up flushing; the events stay stored
    expect(first.c.stats.status).toBe('closed');
    server.verdict = () => 'store';
    const second = client({ storage });
    await second.c.ready;
    expect(second.c.streamId).toBe(first.c.streamId);
    expect(second.c.stats.queued).toBe(2);
    expect(await second.c.send({ n: 3 })).toBe(3);
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

  it('a new MemoryStorage means a new stream id', async () => {
    const a = client().c;
    const b = client().c;
    await Promise.all([a.ready, b.ready]);
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
    const early = c.send({ early: true });
    expect(c.stats.queued).toBe(1);
    expect(await c.send({ early: false })).toBe(2);
    expect(await early).toBe(1);
    await expect(c.flush()).resolves.toBe(true);
    expect(server.frames).toEqual(['{"seq":1,"early":true}', '{"seq":2,"early":false}']);
  });

  it('close() flushes what it can, then closes; a send afterwards is dropped and reported', async () => {
    const { c, drops } = client();
    for (let i = 0; i < 20; i++) void c.send({ i });
    await c.close();
    expect(server.seqs(c.streamId)).toHaveLength(20);
    expect(c.stats.status).toBe('closed');
    await until(() => server.sockets.size === 0);
    await expect(c.send({ late: true })).rejects.toThrow('The client is closed');
    expect(drops).toEqual([{ seq: 0, reason: 'closed', event: '{"late":true}' }]);
  });

  it('replaces a socket that goes silent with frames in flight (ackTimeout)', async () => {
    let silent = true;
    // The first connection stores seq 2 but never answers again, as a half-open TCP connection would.
    server.verdict = ({ seq }) => (seq >= 2 && silent ? 'store-no-reply' : 'store');
    const { c } = client({ ackTimeout: 300 });
    void c.send({ n: 1 });
    void c.send({ n: 2 });
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
  describe('write-ahead', () => {
    /** A storage whose writes wait until the test lets them through. */
    function heldStorage() {
      const backing = new MemoryStorage();
      const held: (() => void)[] = [];
      const storage: QueueStorage = {
        load: (prefix) => backing.load(prefix),
        write: (set, remove) =>
          new Promise<void>((resolve) =>
            held.push(() => {
              backing.write(set, remove);
              resolve();
            }),
          ),
      };
      return { backing, held, storage };
    }

    it('puts a frame on the wire only after the event and the next seq are written, in one write', async () => {
      const { backing, held, storage } = heldStorage();
      const { c } = client({ storage, stream: 'wal-1' });
      await until(() => c.stats.status === 'connected');
      let seq = 0;
      const sending = c.send({ a: 1 }).then((s) => (seq = s));
      await until(() => held.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(server.frames).toEqual([]);
      expect(seq).toBe(0);
      held.shift()!();
      await sending;
      expect(seq).toBe(1);
      expect(backing.load('cbsa/wal-1/').sort()).toEqual([
        ['cbsa/wal-1/1', '{"a":1}'],
        ['cbsa/wal-1/n', '2'],
      ]);
      await until(() => server.frames.length === 1);
      expect(server.frames).toEqual(['{"seq":1,"a":1}']);
      await until(() => held.length === 1); // the deletion of the confirmed event
      held.shift()!();
      await expect(c.flush()).resolves.toBe(true);
    });

    it('rejects a send whose write fails, never reuses its seq, and retries the rest', async () => {
      const backing = new MemoryStorage();
      let failNext = 0;
      const errors: unknown[] = [];
      const storage: QueueStorage = {
        load: (prefix) => backing.load(prefix),
        write: (set: StorageEntry[], remove: string[]) => {
          if (failNext > 0) {
            failNext--;
            return Promise.reject(new Error('QuotaExceededError'));
          }
          backing.write(set, remove);
          return Promise.resolve();
        },
      };
      const { c } = client({ storage, stream: 'wal-2', onError: (e) => errors.push(e) });
      await c.ready;
      expect(await c.send({ n: 1 })).toBe(1);
      failNext = 1;
      await expect(c.send({ n: 2 })).rejects.toThrow('QuotaExceededError');
      expect(await c.send({ n: 3 })).toBe(3);
      await expect(c.flush()).resolves.toBe(true);
      expect(server.stored.map((s) => [s.seq, s.data.n])).toEqual([
        [1, 1],
        [3, 3],
      ]);
      expect(errors).toEqual([new Error('QuotaExceededError')]);
      await c.close();
      expect(backing.load('cbsa/wal-2/')).toEqual([['cbsa/wal-2/n', '4']]);
    });

    it('when the storage cannot be read, it numbers from 1 only on a new stream', async () => {
      const backing = new MemoryStorage();
      backing.write([['cbsa/dev-1/n', '40']], []);
      const errors: unknown[] = [];
      const broken: QueueStorage = {
        load: () => Promise.reject(new Error('EIO')),
        write: (set, remove) => backing.write(set, remove),
      };
      const { c } = client({ storage: broken, stream: 'dev-1', onError: (e) => errors.push(e) });
      expect(await c.send({ n: 1 })).toBe(1);
      expect(c.streamId).toMatch(/^dev-1:[a-z0-9]{7}$/);
      expect(errors).toEqual([new Error('EIO')]);
      await expect(c.flush()).resolves.toBe(true);
      expect(server.seqs('dev-1')).toEqual([]);
    });

    it('a restart after a full flush numbers on from the stored next seq', async () => {
      const storage = new MemoryStorage();
      const first = client({ storage });
      for (let n = 1; n <= 3; n++) await first.c.send({ n });
      await expect(first.c.flush()).resolves.toBe(true);
      await first.c.close();
      expect(storage.load('cbsa/').filter(([key]) => !key.endsWith('~'))).toEqual([
        [`cbsa/${first.c.streamId}/n`, '4'],
      ]);
      const second = client({ storage });
      expect(await second.c.send({ n: 4 })).toBe(4);
      await expect(second.c.flush()).resolves.toBe(true);
      expect(second.c.streamId).toBe(first.c.streamId);
      expect(server.seqs(first.c.streamId)).toEqual([1, 2, 3, 4]);
      expect(second.acks.map((a) => a.status)).toEqual(['received']);
    });
  });

  describe('one stream per client', () => {
    it('two clients on one storage get two streams; a closed one leaves its queue to the next client', async () => {
      const storage = new MemoryStorage();
      server.verdict = () => ({ error: 'Service unavailable' });
      const first = client({ storage, maxDelay: 50 });
      const second = client({ storage, maxDelay: 50 });
      await Promise.all([first.c.send({ from: 'first' }), second.c.send({ from: 'second' })]);
      expect(first.c.streamId).not.toBe(second.c.streamId);
      await second.c.close(50); // its event is still queued
      server.verdict = () => 'store';
      const third = client({ storage });
      await third.c.ready;
      expect(third.c.streamId).toBe(second.c.streamId); // the free stream with events, under its own id
      expect(await third.c.send({ from: 'third' })).toBe(2);
      await expect(third.c.flush()).resolves.toBe(true);
      await expect(first.c.flush()).resolves.toBe(true);
      expect(server.stored.filter((s) => s.stream === second.c.streamId).map((s) => s.data.from)).toEqual([
        'second',
        'third',
      ]);
      expect(server.stored.filter((s) => s.stream === first.c.streamId).map((s) => s.data.from)).toEqual([
        'first',
      ]);
    });

    it('the same given stream on one storage: the second client gets a suffixed stream', async () => {
      const storage = new MemoryStorage();
      const a = client({ storage, stream: 'user-7' });
      const b = client({ storage, stream: 'user-7' });
      await Promise.all([a.c.ready, b.c.ready]);
      expect(a.c.streamId).toBe('user-7');
      expect(b.c.streamId).toMatch(/^user-7:[a-z0-9]{7}$/);
    });
  });

  it('reports a last_seq above every seq it gave as tamper, and keeps its own numbering', async () => {
    const tampers: Tamper[] = [];
    const storage = new MemoryStorage();
    const first = client({ storage, stream: 'victim' });
    await first.c.send({ n: 1 });
    await expect(first.c.flush()).resolves.toBe(true);
    await first.c.close();
    server.lastSeq.set('victim', 2 ** 53 - 1); // forged
    server.verdict = () => ({ error: 'Service unavailable' });
    const { c, acks, drops } = client({ storage, stream: 'victim', onTamper: (t) => tampers.push(t) });
    expect(await c.send({ n: 2 })).toBe(2);
    await until(() => tampers.length > 0);
    expect(tampers[0]).toEqual({ stream: 'victim', lastSeq: 2 ** 53 - 1, highestSeq: 2 });
    server.verdict = () => 'store';
    expect(await c.send({ n: 3 })).toBe(3);
    await expect(c.flush()).resolves.toBe(true);
    // Nothing confirmed by the forged frame; the service's "duplicate" answers are reported, not believed.
    expect(acks).toEqual([]);
    expect(drops.map((d) => [d.seq, d.reason])).toEqual([
      [2, 'tampered'],
      [3, 'tampered'],
    ]);
    expect(c.stats).toMatchObject({ lastSeq: 3, acked: 0, dropped: 2 });
    expect(await c.send({ n: 4 })).toBe(4); // the counter did not move
  });

  it('on/off: several listeners per event, the on* options among them', async () => {
    const seen: string[] = [];
    const { c } = client({ onAck: (a) => seen.push(`option ${a.seq}`) });
    const one = (a: Ack) => seen.push(`one ${a.seq}`);
    const two = (a: Ack) => seen.push(`two ${a.seq}`);
    c.on('ack', one).on('ack', two);
    await c.send({ n: 1 });
    await c.flush();
    c.off('ack', one);
    await c.send({ n: 2 });
    await c.flush();
    expect(seen).toEqual(['option 1', 'one 1', 'two 1', 'option 2', 'two 2']);
  });

  it('reset(): forgets the queue, from the storage too, and starts a new stream from seq 1', async () => {
    const storage = new MemoryStorage();
    server.verdict = () => ({ error: 'Service unavailable' });
    const { c } = client({ storage, maxDelay: 50 });
    await c.send({ user: 'alice' });
    const before = c.streamId;
    await c.reset();
    expect(c.streamId).not.toBe(before);
    expect(storage.load(`cbsa/${before}/`)).toEqual([]);
    server.verdict = () => 'store';
    expect(await c.send({ user: 'bob' })).toBe(1);
    await expect(c.flush()).resolves.toBe(true);
    expect(server.stored.map((s) => [s.stream, s.data.user])).toEqual([[c.streamId, 'bob']]);
  });

  it('an unknown 4xxx close stops it as "stopped" with the queue kept; reconnect() goes on', async () => {
    let closes = 1;
    server.verdict = () => (closes-- > 0 ? { close: 4099 } : 'store');
    const errors: unknown[] = [];
    const { c } = client({ onError: (e) => errors.push(e) });
    await c.send({ n: 1 });
    await until(() => c.stats.status === 'stopped');
    expect(c.stats.queued).toBe(1);
    expect(errors).toEqual([new Error('Closed by the service with code 4099')]);
    c.reconnect();
    await expect(c.flush()).resolves.toBe(true);
    expect(server.seqs(c.streamId)).toEqual([1]);
  });

  it('reconnect() in any state connects again at once', async () => {
    const { c } = client({ minDelay: 60_000, maxDelay: 60_000 });
    await c.send({ n: 1 });
    await c.flush();
    server.dropAll();
    await until(() => c.stats.status === 'offline');
    const started = Date.now();
    c.reconnect();
    await until(() => c.stats.status === 'connected');
    expect(Date.now() - started).toBeLessThan(5_000); // the backoff here is up to a minute
    c.reconnect(); // while connected
    await until(() => server.connections === 3);
    await expect(c.send({ n: 2 })).resolves.toBe(2);
    await expect(c.flush()).resolves.toBe(true);
  });

  describe('tokens', () => {
    /** An unsigned JWT-shaped token expiring in `seconds` (the client reads only `exp`). */
    function jwt(seconds: number, id: number): string {
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${part({ alg: 'none' })}.${part({ exp: Math.floor(Date.now() / 1000) + seconds, id })}.x`;
    }

    it('a static token goes in the Authorization header on Node, never in the URL', async () => {
      server.token = 'static-token-1';
      const { c } = client({ token: 'static-token-1', stream: 'tok-1' });
      await c.send({ n: 1 });
      await expect(c.flush()).resolves.toBe(true);
      expect(server.upgrades).toEqual([
        { via: 'header', token: 'static-token-1', url: '/ws/behaviour?stream=tok-1' },
      ]);
    });

    it('getToken: called before each connect, and the refresh frame goes out before exp', async () => {
      let issued = 0;
      const tokens: string[] = [];
      server.token = (token) => tokens.includes(token);
      const getToken = () => {
        const token = jwt(2, ++issued); // refreshed 0.5 s before it expires
        tokens.push(token);
        return Promise.resolve(token);
      };
      const { c } = client({ getToken, stream: 'tok-2' });
      await c.send({ n: 1 });
      await expect(c.flush()).resolves.toBe(true);
      expect(server.upgrades.map((u) => u.token)).toEqual([tokens[0]]);
      await until(() => server.refreshes.length === 1, 5_000);
      expect(server.refreshes).toEqual([tokens[1]]);
      server.dropAll();
      await until(() => server.upgrades.length === 2);
      expect(server.upgrades[1].token).toBe(tokens[2]);
      expect(server.upgrades.every((u) => u.via === 'header' && !u.url.includes('token'))).toBe(true);
    });

    it('close 4003 (token expired): a new token and a new connection at once', async () => {
      let issued = 0;
      let expire = true;
      server.verdict = () => {
        if (!expire) return 'store';
        expire = false;
        return { close: 4003 };
      };
      const { c, statuses } = client({
        getToken: () => Promise.resolve(`token-${++issued}`),
        minDelay: 60_000,
        maxDelay: 60_000,
      });
      await c.send({ n: 1 });
      await expect(c.flush(5_000)).resolves.toBe(true);
      expect(issued).toBe(2);
      expect(server.upgrades.map((u) => u.token)).toEqual(['token-1', 'token-2']);
      expect(statuses).not.toContain('unauthorized');
    });

    it("without a stream option, JWT mode streams on the token's sub: sub, then sub:<random>", async () => {
      const storage = new MemoryStorage();
      const token = jwt(3600, 1).replace(
        /\.[^.]+\./,
        `.${Buffer.from(JSON.stringify({ sub: 'device-9' })).toString('base64url')}.`,
      );
      const getToken = () => Promise.resolve(token);
      const first = client({ storage, getToken });
      const second = client({ storage, getToken });
      await Promise.all([first.c.send({ n: 1 }), second.c.send({ n: 1 })]);
      expect([first.c.streamId, second.c.streamId].sort()).toEqual([
        'device-9',
        expect.stringMatching(/^device-9:[a-z0-9]{7}$/),
      ]);
      await first.c.reset();
      expect(first.c.streamId).toMatch(/^device-9:[a-z0-9]{7}$/);
      expect(first.c.streamId).not.toBe(second.c.streamId);
    });

    it('close 4003 with a static token: status "unauthorized"', async () => {
      server.verdict = () => ({ close: 4003 });
      const { c } = client({ token: 'static' });
      await c.send({ n: 1 });
      await until(() => c.stats.status === 'unauthorized');
    });
  });
});
