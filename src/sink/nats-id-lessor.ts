// Message ids with SINK=nats and no Redis: blocks leased from the key `message_id` of the KV bucket
// `<NATS_STREAM>_ids` (no TTL) by compare-and-set on its revision, so instances sharing the stream
// never hand out the same id, and a restarted instance continues above every id handed out before.
import type { KV } from '@nats-io/kv';
import { FLOOR_IDS_PER_MS, type IdLessor } from '../stream/id-source.js';

const KEY = 'message_id';
/** Writers racing for the counter retry; more conflicts than this in a row fail the lease. */
const ATTEMPTS = 20;
/**
 * A missing counter (a new bucket, or one lost with the server) starts a minute's worth of floor
 * higher, above blocks other instances leased from the lost counter and still hold, as with Redis.
 */
const EMPTY_MARGIN = 60_000 * FLOOR_IDS_PER_MS;

export function natsIdLessor(kv: KV): IdLessor {
  return async (size, minimum) => {
    let last: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const entry = await kv.get(KEY);
      const held = entry !== null && entry.operation === 'PUT';
      const current = held ? Number(entry.string()) : 0;
      const from = held ? Math.max(current, minimum) : minimum + EMPTY_MARGIN;
      const end = from + size;
      try {
        if (entry === null) await kv.create(KEY, String(end));
        else await kv.update(KEY, String(end), entry.revision);
        return end;
      } catch (err) {
        // Another instance leased in between (wrong last sequence): read again.
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  };
}
