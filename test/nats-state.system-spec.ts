// SINK=nats with two instances sharing one stream and a short duplicate window (2 s): a stream's
// last_seq in KV only rises, a JetStream duplicate never lowers it, and an instance whose view of
// a stream is stale (another instance stored more of it, or its cache evicted the stream) never
// stores a resend again once the window is over. Read back from the log itself.
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { stateKey } from '../src/sink/nats/stream-state.js';
import { NatsServer, describeWithNats, readLog } from './support/nats.js';
import { Service } from './support/service.js';
import { TestClient } from './support/ws-client.js';
import { sleep } from './support/wait.js';

const WINDOW_S = 2;

async function start(env: Record<string, string>): Promise<{ service: Service; port: number }> {
  const service = new Service({ SINK: 'nats', NATS_DUPLICATE_WINDOW_S: String(WINDOW_S), ...env });
  const line = await service.waitForLine((l) => / listening on /.test(l.msg), 60_000);
  return { service, port: Number(/:(\d+) /.exec(line.msg)![1]) };
}

async function open(port: number, stream: string, lastSeq: number): Promise<TestClient> {
  const client = await TestClient.open(`ws://127.0.0.1:${port}/ws/behaviour?stream=${stream}`);
  expect(await client.nextJson()).toEqual({ type: 'resume', stream, last_seq: lastSeq });
  return client;
}

/** Sends each seq and returns the replies' status per seq. */
async function send(client: TestClient, seqs: number[]): Promise<string[]> {
  const statuses = [];
  for (const seq of seqs) {
    client.send(`{"seq":${seq},"event_type":"tap"}`);
    const reply = await client.nextJson<{ status: string; seq: number }>();
    expect(reply.seq).toBe(seq);
    statuses.push(reply.status);
  }
  return statuses;
}

async function kvSeq(url: string, bucket: string, stream: string): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const kv = await new Kvm(nc).open(bucket);
    const entry = await kv.get(stateKey(stream));
    return entry === null ? 0 : Number(entry.string());
  } finally {
    await nc.close();
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describeWithNats('SINK=nats stream state across instances (e2e)', () => {
  let nats: NatsServer;

  beforeAll(async () => {
    nats = await NatsServer.start();
  });

  afterAll(async () => {
    await nats.dispose();
  });

  it('two instances, a resend inside and after a 2 s duplicate window: 20 entries for 20 seqs, last_seq never falls', async () => {
    const env = { NATS_URL: nats.url, NATS_STREAM: 'TWO', NATS_SUBJECT: 'two.events' };
    const [a, b] = await Promise.all([start(env), start(env)]);
    try {
      const onA = await open(a.port, 'phone:s', 0);
      expect(await send(onA, range(1, 10))).toEqual(range(1, 10).map(() => 'received'));
      const onB = await open(b.port, 'phone:s', 10);
      expect(await send(onB, range(11, 20))).toEqual(range(11, 20).map(() => 'received'));
      expect(await kvSeq(nats.url, 'TWO_streams', 'phone:s')).toBe(20);
      // Inside the window: JetStream holds phone:s:15, and the duplicate leaves KV at 20.
      expect(await send(onA, [15])).toEqual(['duplicate']);
      expect(await kvSeq(nats.url, 'TWO_streams', 'phone:s')).toBe(20);
      // After the window JetStream no longer dedupes: only the instance's own check can.
      await sleep(WINDOW_S * 1000 + 500);
      expect(await send(onA, [15, 16, 20])).toEqual(['duplicate', 'duplicate', 'duplicate']);
      onA.close();
      onB.close();
      // A new connection resumes at 20 on either instance, and a resend of 16-20 stores nothing.
      const again = await open(a.port, 'phone:s', 20);
      expect(await send(again, range(16, 20))).toEqual(range(16, 20).map(() => 'duplicate'));
      // The log itself: 20 entries for 20 seqs.
      expect((await readLog(nats.url, 'TWO')).map((e) => Number(e.headers.seq))).toEqual(range(1, 20));
      expect(await send(again, [21])).toEqual(['received']);
      again.close();
      expect(await kvSeq(nats.url, 'TWO_streams', 'phone:s')).toBe(21);
    } finally {
      await Promise.all([a.service.stop(), b.service.stop()]);
    }
    const log = await readLog(nats.url, 'TWO');
    expect(log.map((e) => Number(e.headers.seq))).toEqual(range(1, 21));
  }, 120_000);

  it('STREAM_STATE_MAX=1: an instance that evicted a stream reads it again and stores no resend after the window', async () => {
    const env = { NATS_URL: nats.url, NATS_STREAM: 'EVICT', NATS_SUBJECT: 'evict.events' };
    const [a, b] = await Promise.all([start({ ...env, STREAM_STATE_MAX: '1' }), start(env)]);
    try {
      const onA = await open(a.port, 'tab:x', 0);
      expect(await send(onA, range(1, 5))).toEqual(range(1, 5).map(() => 'received'));
      const onB = await open(b.port, 'tab:x', 5);
      expect(await send(onB, range(6, 10))).toEqual(range(6, 10).map(() => 'received'));
      // A resend inside the window (JetStream dedupes it); it must not lower last_seq.
      expect(await send(onA, [8])).toEqual(['duplicate']);
      // Another stream on A evicts tab:x from its cache.
      const other = await open(a.port, 'tab:y', 0);
      expect(await send(other, [1])).toEqual(['received']);
      await sleep(WINDOW_S * 1000 + 500);
      expect(await send(onA, [6, 10])).toEqual(['duplicate', 'duplicate']);
      expect(await send(onA, [11])).toEqual(['received']);
      [onA, onB, other].forEach((c) => c.close());
      expect(await kvSeq(nats.url, 'EVICT_streams', 'tab:x')).toBe(11);
    } finally {
      await Promise.all([a.service.stop(), b.service.stop()]);
    }
    const log = await readLog(nats.url, 'EVICT');
    const seqs = log.filter((e) => e.headers.stream === 'tab:x').map((e) => Number(e.headers.seq));
    expect(seqs).toEqual(range(1, 11));
    expect(log.length).toBe(12);
  }, 120_000);
});
