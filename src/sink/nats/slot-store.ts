// Id slots with SINK=nats and no Redis: key `slot<n>` of the KV bucket `<NATS_STREAM>_id_slots`,
// whose TTL is ID_SLOT_TTL_MS, holds the token of the process that leases slot n (see SlotIdSource
// in stream/id-source.ts). Every write is a compare-and-set on the key's revision.
import type { KV } from '@nats-io/kv';
import type { IdLessor } from '../../stream/id-lessor.js';

export function natsSlotStore(kv: KV, guard: <T>(request: Promise<T>) => Promise<T>): IdLessor {
  const key = (slot: number) => `slot${slot}`;
  const held = async (slot: number) => {
    const entry = await guard(kv.get(key(slot)));
    return entry === null || entry.operation !== 'PUT' ? undefined : entry;
  };
  const create = async (slot: number, token: string) => {
    try {
      await guard(kv.create(key(slot), token));
      return true;
    } catch (err) {
      // Someone else created it first: not ours. Anything else is a failure to report.
      if (/wrong last sequence|key exists/i.test((err as Error).message)) return false;
      throw err;
    }
  };
  return {
    acquire: async (slot, token) => ((await held(slot)) === undefined ? create(slot, token) : false),
    renew: async (slot, token) => {
      const entry = await held(slot);
      if (entry === undefined) return create(slot, token);
      if (entry.string() !== token) return false;
      await guard(kv.update(key(slot), token, entry.revision));
      return true;
    },
    release: async (slot, token) => {
      const entry = await held(slot);
      if (entry?.string() === token) await guard(kv.delete(key(slot), { previousSeq: entry.revision }));
    },
  };
}
