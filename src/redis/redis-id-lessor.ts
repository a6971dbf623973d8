// The id lessor on Redis: `<prefix>id_slot:<n>` holds the token of the process that leases slot n,
// with a TTL (see SlotIdSource in stream/id-source.ts).
import type { IdLessor } from '../stream/id-lessor.js';
import type { RedisService } from './redis.service.js';

/** KEYS[1] the slot; ARGV token, ttl ms. Extends our hold, or takes the slot again when its record is gone. */
const RENEW = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0`;

export function redisIdLessor(redis: RedisService): IdLessor {
  const key = (slot: number) => redis.key(`id_slot:${slot}`);
  const client = () => {
    if (redis.client === undefined || !redis.ready) throw new Error('Redis unavailable');
    return redis.client;
  };
  return {
    acquire: async (slot, token, ttlMs) => (await client().set(key(slot), token, 'PX', ttlMs, 'NX')) === 'OK',
    renew: async (slot, token, ttlMs) =>
      (await client().eval(RENEW, 1, key(slot), token, String(ttlMs))) === 1,
    release: async (slot, token) => {
      await client().eval(RELEASE, 1, key(slot), token);
    },
    reachable: () => redis.ready,
  };
}
