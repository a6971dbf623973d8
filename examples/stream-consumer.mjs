// A minimal consumer of CBSA's durable handoff (SINK=redis-stream): reads `<prefix>stream` with a
// consumer group, handles each event, and acknowledges it. Run several copies with different
// CONSUMER names to share the work; an entry a crashed consumer read but never acked is picked up
// again by XAUTOCLAIM.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 node examples/stream-consumer.mjs
import { Redis } from 'ioredis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const stream = `${process.env.REDIS_PREFIX ?? 'cbsa:'}stream`;
const group = process.env.GROUP ?? 'auth-scoring';
const consumer = process.env.CONSUMER ?? `consumer-${process.pid}`;
const redis = new Redis(url);

try {
  // Start at the beginning of the stream the first time; MKSTREAM creates it if CBSA has not yet.
  await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
} catch (err) {
  if (!String(err.message).includes('BUSYGROUP')) throw err;
}

function handle(id, fields) {
  const event = {};
  for (let i = 0; i < fields.length; i += 2) event[fields[i]] = fields[i + 1];
  const data = JSON.parse(event.data); // the client's JSON exactly as sent
  console.log(`${id} #${event.message_id} ${event.category} from ${event.client_id}:`, data);
}

let stopping = false;
process.once('SIGINT', () => (stopping = true));
process.once('SIGTERM', () => (stopping = true));

while (!stopping) {
  // Entries idle for a minute in another consumer's pending list (it died) come back here first.
  const [, claimed] = await redis.xautoclaim(stream, group, consumer, 60_000, '0', 'COUNT', 100);
  const fresh = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', 100, 'BLOCK', 2000, 'STREAMS', stream, '>');
  const entries = [...claimed, ...(fresh?.[0]?.[1] ?? [])];
  for (const [id, fields] of entries) {
    handle(id, fields);
    await redis.xack(stream, group, id);
  }
}
redis.disconnect();
