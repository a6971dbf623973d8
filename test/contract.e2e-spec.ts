// docs/asyncapi.yaml: a valid AsyncAPI 3.0 document (@asyncapi/parser), and every frame the real app
// sends on both channels matches exactly one of the channel's message schemas (ajv).
import { DiagnosticSeverity } from '@asyncapi/parser';
import { type Contract, loadContract, parseAsyncApi } from './support/contract.js';
import { type RunningApp, startApp } from './support/app.js';
import { WsClient } from '../harness/ws-client.mjs';

const ANY_NUMBER = expect.any(Number) as unknown;

describe('AsyncAPI contract (docs/asyncapi.yaml)', () => {
  let contract: Contract;
  let running: RunningApp;
  const clients: WsClient[] = [];
  const open = async (path: string) => {
    const client = await WsClient.open(running.ws(path));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    contract = await loadContract();
    running = await startApp({
      MONITOR_FLUSH_MS: '10',
      RATE_LIMIT_PER_CONNECTION: '5',
      RATE_LIMIT_BURST: '5',
    });
  }, 60_000);
  afterEach(() => clients.splice(0).forEach((c) => c.socket.terminate()));
  afterAll(() => running.close());

  it('is a valid AsyncAPI 3.0 document with both channels, every frame and the close codes', async () => {
    const { document, diagnostics } = await parseAsyncApi();
    // Errors and warnings fail; information and hints (e.g. "AsyncAPI 3.1 exists") do not.
    expect(diagnostics.filter((d) => Number(d.severity) <= Number(DiagnosticSeverity.Warning))).toEqual([]);
    expect(document!.version()).toBe('3.0.0');
    const channels = Object.fromEntries(
      document!
        .channels()
        .all()
        .map((c) => [c.id(), c]),
    );
    expect(channels.ingest.address()).toBe('/ws/behaviour');
    expect(channels.monitor.address()).toBe('/ws/monitor');
    expect(
      channels.ingest
        .messages()
        .all()
        .map((m) => m.id())
        .sort(),
    ).toEqual(['duplicate', 'error', 'event', 'quarantined', 'received', 'refresh', 'refreshed', 'resume']);
    expect(
      channels.monitor
        .messages()
        .all()
        .map((m) => m.id())
        .sort(),
    ).toEqual(['auth_refused', 'events', 'hello', 'stats']);
    const closeCodes = (id: string) =>
      Object.keys(channels[id].extensions().get('x-close-codes')!.value<object>());
    expect(closeCodes('ingest').sort()).toEqual([
      '1001',
      '1002',
      '1007',
      '1008',
      '1009',
      '1013',
      '4001',
      '4003',
    ]);
    expect(closeCodes('monitor').sort()).toEqual(['1001', '1002', '1009']);
  });

  it('ingest replies of the seed contract match their schemas, and only them', async () => {
    const client = await open('/ws/behaviour');
    client.send('{"event_type":"tap","x":1}');
    const ack = await client.next();
    contract.check('ingest', 'received', ack);
    expect(contract.matches('ingest', ack)).toEqual(['event', 'received']); // `event` is any JSON
    client.send('{"broken"');
    const error = await client.next();
    expect(JSON.parse(error)).toEqual({ status: 'error', message: 'Malformed JSON' });
    contract.check('ingest', 'error', error);
    expect(contract.matches('ingest', error)).toEqual(['event', 'error']);
  });

  it('"Rate limit exceeded" matches the error schema', async () => {
    const client = await open('/ws/behaviour');
    for (let i = 0; i < 8; i++) client.send('{}');
    const replies = await Promise.all(Array.from({ length: 8 }, () => client.next()));
    const refused = replies.find((r) => r.includes('Rate limit'));
    expect(JSON.parse(refused!)).toEqual({ status: 'error', message: 'Rate limit exceeded' });
    contract.check('ingest', 'error', refused!);
  });

  it('resumable-stream frames (resume, received with seq, duplicate, Invalid seq, gaps) match their schemas', async () => {
    const monitor = await open('/ws/monitor');
    contract.check('monitor', 'hello', await monitor.next());
    const client = await open('/ws/behaviour?stream=contract-1');
    const resume = await client.next();
    expect(JSON.parse(resume)).toEqual({ type: 'resume', stream: 'contract-1', last_seq: 0 });
    expect(contract.matches('ingest', resume)).toEqual(['event', 'resume']);
    const replies: string[] = [];
    for (const frame of ['{"seq":1}', '{"seq":3,"gap":"after 1"}', '{"seq":2}', '[1]']) {
      client.send(frame);
      replies.push(await client.next());
    }
    expect(replies.map((r) => JSON.parse(r) as unknown)).toEqual([
      { status: 'received', server_timestamp: ANY_NUMBER, message_id: ANY_NUMBER, seq: 1 },
      { status: 'received', server_timestamp: ANY_NUMBER, message_id: ANY_NUMBER, seq: 3 },
      { status: 'duplicate', server_timestamp: ANY_NUMBER, seq: 2 },
      { status: 'error', message: 'Invalid seq' },
    ]);
    expect(replies.map((r) => contract.matches('ingest', r))).toEqual([
      ['event', 'received'],
      ['event', 'received'],
      ['event', 'duplicate'],
      ['event', 'error'],
    ]);
    // The monitor shows them too (with stream, seq, gap and the duplicate status), within the schema.
    const seen: Record<string, unknown>[] = [];
    const deadline = Date.now() + 5_000;
    while (seen.length < 3 && Date.now() < deadline) {
      const frame = await monitor.next();
      const parsed = JSON.parse(frame) as { type: string; events?: Record<string, unknown>[] };
      expect(contract.matches('monitor', frame)).toEqual([parsed.type]);
      seen.push(...(parsed.events ?? []));
    }
    expect(seen.map((e) => [e.status, e.seq, e.gap])).toEqual([
      ['received', 1, undefined],
      ['received', 3, 1],
      ['duplicate', 2, undefined],
    ]);

    // A reconnect resumes the stream: its first event carries "resumed": true, and stats count it.
    client.socket.close();
    await client.closed;
    const again = await open('/ws/behaviour?stream=contract-1');
    expect(JSON.parse(await again.next())).toEqual({ type: 'resume', stream: 'contract-1', last_seq: 3 });
    again.send('{"seq":4}');
    again.send('{"seq":5}');
    await again.next();
    await again.next();
    const after: Record<string, unknown>[] = [];
    let resumes: unknown;
    const until = Date.now() + 5_000;
    while ((after.length < 2 || resumes === undefined) && Date.now() < until) {
      const frame = await monitor.next();
      const parsed = JSON.parse(frame) as {
        type: string;
        events?: Record<string, unknown>[];
        resumes?: number;
      };
      expect(contract.matches('monitor', frame)).toEqual([parsed.type]);
      after.push(...(parsed.events ?? []));
      if (parsed.type === 'stats' && after.length >= 2) resumes = parsed.resumes;
    }
    expect(after.map((e) => [e.seq, e.resumed])).toEqual([
      [4, true],
      [5, undefined],
    ]);
    expect(resumes).toBe(1);
  });

  it('monitor hello, events (received and malformed) and stats match their schemas', async () => {
    const monitor = await open('/ws/monitor');
    const hello = await monitor.next();
    contract.check('monitor', 'hello', hello);
    const producer = await open('/ws/behaviour');
    producer.send('{"event_type":"swipe","user_id":"u1"}');
    producer.send('not json');
    let events = 0;
    let stats = 0;
    const deadline = Date.now() + 5_000;
    while ((events < 2 || stats < 1) && Date.now() < deadline) {
      const frame = await monitor.next();
      const type = (JSON.parse(frame) as { type: string }).type;
      expect(contract.matches('monitor', frame)).toEqual([type]);
      if (type === 'events') events += (JSON.parse(frame) as { events: unknown[] }).events.length;
      if (type === 'stats') stats++;
    }
    expect(events).toBeGreaterThanOrEqual(2);
    expect(stats).toBeGreaterThanOrEqual(1);
  });
});
