// The append script itself, on a real redis-server, with schedules fixed in advance: what the
// property test of the ack queue (src/ingest/ack-queue.property.spec.ts) assumes of it, `after`
// above all, checked deterministically rather than left to the timing of a load test.
import { Redis } from 'ioredis';
import type { RedisService } from '../src/redis/redis.service.js';
import { DUPLICATE, FAILED, type SinkEntry } from '../src/sink/stream-log.js';
import { RedisStreamSink } from '../src/sink/redis/redis-log.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';

function entry(stream: string, seq: number, after = 0): SinkEntry {
  return {
    stream,
    seq,
    messageId: 1000 + seq,
    clientId: 'c',
    timestamp: '1.000',
    category: 'touch',
    data: `{"seq":${seq}}`,
    after,
  };
}

describeWithRedis('The append script on Redis (system)', () => {
  let server: RedisServer;
  let client: Redis;
  let sink: RedisStreamSink;
  const stored = async (stream: string) =>
    (await client.xrange('t:stream', '-', '+'))
      .map(([, fields]) => fields)
      .filter((fields) => fields[fields.indexOf('stream') + 1] === stream)
      .map((fields) => Number(fields[fields.indexOf('seq') + 1]));

  beforeAll(async () => {
    server = await RedisServer.start();
    client = new Redis(server.url);
    const service = { sink: client, key: (name: string) => `t:${name}` } as unknown as RedisService;
    sink = new RedisStreamSink(service, 60, 100_000);
  });
  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });

  it("fails an entry whose `after` is above the stream's last seq, and every later one of its stream in the batch", async () => {
    // Batch 1 (seqs 1-2) failed or has not run; batch 2 was sent behind it with after = 2.
    expect(await sink.append([entry('a', 3, 2), entry('a', 4, 2), entry('b', 1)], true)).toEqual([
      FAILED,
      FAILED,
      0,
    ]);
    expect(await stored('a')).toEqual([]);
    // Batch 1 runs; batch 2, resent, now passes its check.
    expect(await sink.append([entry('a', 1), entry('a', 2)], true)).toEqual([0, 1]);
    expect(await sink.append([entry('a', 3, 2), entry('a', 4, 2)], true)).toEqual([2, 3]);
    expect(await stored('a')).toEqual([1, 2, 3, 4]);
    // A resend of what is stored is a duplicate, whatever `after` says.
    expect(await sink.append([entry('a', 2, 1), entry('a', 5, 4)], true)).toEqual([DUPLICATE, 4]);
  });

  it('fails a batch that Redis refuses (out of memory), and the later batch of the same stream behind it', async () => {
    await client.config('SET', 'maxmemory', '1');
    try {
      expect(await sink.append([entry('c', 1), entry('c', 2)], true)).toEqual([FAILED, FAILED]);
    } finally {
      await client.config('SET', 'maxmemory', '0');
    }
    // Sent while the first was in flight: it must not store 3 over the hole 1-2 left.
    expect(await sink.append([entry('c', 3, 2)], true)).toEqual([FAILED]);
    expect(await stored('c')).toEqual([]);
  });
});
