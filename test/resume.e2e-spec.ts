// The resumable-stream protocol without Redis (stream state in memory): the resume frame, the seq
// rules, duplicates, gaps in all three places, invalid ids and seqs, the 4001 takeover, and the
// no-silent-hole rule after a rate-limit refusal.
import { type RunningApp, startApp } from './support/app.js';
import { readHealth } from './support/health.js';
import type { Reply } from './support/resumable-client.js';
import { sleep } from '../harness/wait.mjs';
import { scrape } from './support/prometheus.js';
import { WsClient, expectServed } from '../harness/ws-client.mjs';

const TS = expect.any(Number) as unknown;
const ID = expect.any(Number) as unknown;

async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const client = new WsClient(url, { headers });
  return new Promise((resolve, reject) => {
    client.socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    client.socket.once('open', () => reject(new Error('upgraded')));
  });
}

describe('Resumable streams, in memory (e2e)', () => {
  let running: RunningApp;
  const url = (stream: string) => running.ws(`/ws/behaviour?stream=${encodeURIComponent(stream)}`);

  beforeAll(async () => {
    running = await startApp({ MONITOR_FLUSH_MS: '20', STREAM_STATE_MAX: '3' });
  });
  afterAll(() => running.close());

  it('sends the resume frame first, acks with the seq, answers resends "duplicate", and resumes after a reconnect', async () => {
    const client = await WsClient.open(url('install-1:session-a'));
    expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'install-1:session-a', last_seq: 0 });
    client.send('{"seq":1,"event_type":"tap"}');
    client.send('{"seq":2,"event_type":"tap"}');
    const one = await client.nextJson<Reply>();
    const two = await client.nextJson<Reply>();
    expect(one).toEqual({ status: 'received', server_timestamp: TS, message_id: ID, seq: 1 });
    expect(two).toEqual({
      status: 'received',
      server_timestamp: TS,
      message_id: one.message_id! + 1,
      seq: 2,
    });
    client.send('{"seq":2,"event_type":"tap"}');
    client.send('{"seq":1,"event_type":"tap"}');
    expect(await client.nextJson()).toEqual({ status: 'duplicate', server_timestamp: TS, seq: 2 });
    expect(await client.nextJson()).toEqual({ status: 'duplicate', server_timestamp: TS, seq: 1 });
    client.close();
    await client.waitClosed();
    const again = await WsClient.open(running.ws('/ws/behaviour'), {
      headers: { 'X-CBSA-Stream': 'install-1:session-a' },
    });
    expect(await again.nextJson()).toEqual({ type: 'resume', stream: 'install-1:session-a', last_seq: 2 });
    again.send('{"seq":3}');
    expect(await again.nextJson()).toEqual({
      status: 'received',
      server_timestamp: TS,
      message_id: ID,
      seq: 3,
    });
    again.close();
  });

  it('counts duplicates apart from messages: no id, not in total_messages', async () => {
    const before = await readHealth(running.http);
    const client = await WsClient.open(url('dup-count'));
    await client.next();
    client.send('{"seq":1}');
    client.send('{"seq":1}');
    client.send('{"seq":1}');
    expect((await client.nextJson()).status).toBe('received');
    expect(await client.nextJson()).toEqual({ status: 'duplicate', server_timestamp: TS, seq: 1 });
    expect(await client.nextJson()).toEqual({ status: 'duplicate', server_timestamp: TS, seq: 1 });
    const after = await readHealth(running.http);
    expect(after.total_messages - before.total_messages).toBe(1);
    expect(after.total_duplicates - before.total_duplicates).toBe(2);
    client.close();
  });

  it('accepts a skipped seq and reports the gap on the monitor, in /health and in the metric', async () => {
    const before = await readHealth(running.http);
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    await monitor.next();
    const client = await WsClient.open(url('gappy'));
    await client.next();
    client.send('{"seq":1,"event_type":"swipe"}');
    client.send('{"seq":5,"event_type":"swipe"}');
    client.send('{"seq":5,"event_type":"swipe"}');
    const first = await client.nextJson<Reply>();
    expect(await client.nextJson()).toEqual({
      status: 'received',
      server_timestamp: TS,
      message_id: ID,
      seq: 5,
    });
    await client.next();
    const events: Record<string, unknown>[] = [];
    while (events.length < 3) {
      const frame = await monitor.until<{ type: string; events?: Record<string, unknown>[] }>(
        (f) => f.type === 'events',
      );
      events.push(...frame.events!);
    }
    const common = {
      client_id: expect.any(String) as unknown,
      server_timestamp: TS,
      path: expect.any(Array) as unknown,
    };
    expect(events).toEqual([
      {
        ...common,
        message_id: first.message_id,
        status: 'received',
        category: 'gesture',
        size: 30,
        stream: 'gappy',
        seq: 1,
        data: { seq: 1, event_type: 'swipe' },
      },
      {
        ...common,
        message_id: first.message_id! + 1,
        status: 'received',
        category: 'gesture',
        size: 30,
        stream: 'gappy',
        seq: 5,
        gap: 3,
        data: { seq: 5, event_type: 'swipe' },
      },
      {
        ...common,
        message_id: null,
        status: 'duplicate',
        category: 'gesture',
        size: 30,
        stream: 'gappy',
        seq: 5,
        data: { seq: 5, event_type: 'swipe' },
      },
    ]);
    const after = await readHealth(running.http);
    expect(after.total_gaps - before.total_gaps).toBe(3);
    const metrics = await scrape(running.http);
    expect(metrics.get('cbsa_stream_gaps_total')).toBe(after.total_gaps);
    expect(metrics.get('cbsa_stream_duplicates_total')).toBe(after.total_duplicates);
    client.close();
    monitor.close();
  });

  it.each([
    ['an array', '[1]'],
    ['a string', '"seq"'],
    ['no seq', '{"event_type":"tap"}'],
    ['seq 0', '{"seq":0}'],
    ['a negative seq', '{"seq":-1}'],
    ['a fractional seq', '{"seq":1.5}'],
    ['a string seq', '{"seq":"1"}'],
    ['a seq above 2^53-1', '{"seq":9007199254740992}'],
    ['an inherited seq', '{"__proto__":{"seq":1}}'],
  ])(
    'answers %s with "Invalid seq", keeps the connection and serves a fresh client',
    async (_name, frame) => {
      const client = await WsClient.open(url('invalid-seq'));
      const resume = await client.nextJson<{ last_seq: number }>();
      client.send(frame);
      expect(await client.nextJson()).toEqual({ status: 'error', message: 'Invalid seq' });
      client.send('{oops');
      expect(await client.nextJson()).toEqual({ status: 'error', message: 'Malformed JSON' });
      client.send(`{"seq":${resume.last_seq + 1}}`);
      expect(await client.nextJson()).toEqual({
        status: 'received',
        server_timestamp: TS,
        message_id: ID,
        seq: resume.last_seq + 1,
      });
      client.close();
      await expectServed(running.ws('/ws/behaviour'));
    },
  );

  it('takes 2^53-1 as a seq', async () => {
    const client = await WsClient.open(url('max-seq'));
    await client.next();
    client.send('{"seq":9007199254740991}');
    expect(await client.nextJson()).toEqual({
      status: 'received',
      server_timestamp: TS,
      message_id: ID,
      seq: 9007199254740991,
    });
    client.close();
  });

  it.each([
    ['an empty id', '?stream='],
    ['a space', '?stream=a%20b'],
    ['a slash', '?stream=a%2Fb'],
    ['a quote', '?stream=a%22b'],
    ['201 characters', `?stream=${'a'.repeat(201)}`],
    ['two ids', '?stream=a&stream=b'],
  ])('refuses a stream id with %s with HTTP 400, then serves a fresh client', async (_name, query) => {
    expect(await upgradeStatus(running.ws(`/ws/behaviour${query}`))).toBe(400);
    await expectServed(running.ws('/ws/behaviour'));
  });

  it('refuses a header id that is invalid or disagrees with the query with HTTP 400', async () => {
    expect(await upgradeStatus(running.ws('/ws/behaviour'), { 'X-CBSA-Stream': 'no spaces' })).toBe(400);
    expect(await upgradeStatus(running.ws('/ws/behaviour?stream=a'), { 'X-CBSA-Stream': 'b' })).toBe(400);
    const client = await WsClient.open(running.ws(`/ws/behaviour?stream=${'x'.repeat(200)}`));
    expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'x'.repeat(200), last_seq: 0 });
    client.close();
  });

  it('closes the older connection of a stream with 4001 when a newer one opens', async () => {
    const older = await WsClient.open(url('contended'));
    await older.next();
    older.send('{"seq":1}');
    await older.next();
    const newer = await WsClient.open(url('contended'));
    expect(await older.waitClosed()).toEqual({ code: 4001, reason: 'Stream resumed elsewhere' });
    expect(await newer.nextJson()).toEqual({ type: 'resume', stream: 'contended', last_seq: 1 });
    newer.send('{"seq":1}');
    newer.send('{"seq":2}');
    expect((await newer.nextJson()).status).toBe('duplicate');
    expect((await newer.nextJson()).status).toBe('received');
    newer.close();
  });

  it('forgets the least recently used stream past STREAM_STATE_MAX', async () => {
    for (const stream of ['lru-a', 'lru-b', 'lru-c', 'lru-d']) {
      const client = await WsClient.open(url(stream));
      await client.next();
      client.send('{"seq":7}');
      await client.next();
      client.close();
      await client.waitClosed();
    }
    const evicted = await WsClient.open(url('lru-a'));
    expect(await evicted.nextJson()).toEqual({ type: 'resume', stream: 'lru-a', last_seq: 0 });
    evicted.close();
    const kept = await WsClient.open(url('lru-d'));
    expect(await kept.nextJson()).toEqual({ type: 'resume', stream: 'lru-d', last_seq: 7 });
    kept.close();
  });

  it('keeps the seed contract on connections without a stream id', async () => {
    const client = await WsClient.open(running.ws('/ws/behaviour'));
    client.send('{"seq":"anything"}');
    expect(await client.nextJson()).toEqual({ status: 'received', server_timestamp: TS, message_id: ID });
    client.close();
  });
});

describe('Resumable streams: a rate-limit refusal leaves no hole (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ RATE_LIMIT_PER_CONNECTION: '1', RATE_LIMIT_BURST: '2' });
  });
  afterAll(() => running.close());

  it('refuses every later seq after a refused one until it is resent', async () => {
    const client = await WsClient.open(running.ws('/ws/behaviour?stream=limited'));
    await client.next();
    for (let seq = 1; seq <= 5; seq++) client.send(`{"seq":${seq}}`);
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() => client.nextJson()));
    expect(replies).toEqual([
      { status: 'received', server_timestamp: TS, message_id: ID, seq: 1 },
      { status: 'received', server_timestamp: TS, message_id: ID, seq: 2 },
      { status: 'error', message: 'Rate limit exceeded' },
      { status: 'error', message: 'Rate limit exceeded' },
      { status: 'error', message: 'Rate limit exceeded' },
    ]);
    await sleep(1100);
    // seq 4 is not let past the refused seq 3, even with a token to spare.
    client.send('{"seq":4}');
    expect(await client.nextJson()).toEqual({ status: 'error', message: 'Rate limit exceeded' });
    await sleep(1100);
    client.send('{"seq":3}');
    expect(await client.nextJson()).toEqual({
      status: 'received',
      server_timestamp: TS,
      message_id: ID,
      seq: 3,
    });
    client.close();
    await expectServed(running.ws('/ws/behaviour'));
  });
});
