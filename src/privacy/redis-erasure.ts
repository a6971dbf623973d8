// Erasure by subject on Redis Streams. With ADMIN_TOKEN set, the append script (sink/redis/redis-log.ts)
// also records, atomically with each XADD, the entry's id in the list `<prefix>erasure:ids:<subject>`
// ("q<id>" for an entry of the quarantine log), the subject in the set
// `<prefix>erasure:subjects:<root>` (root: the subject up to its first ':'), and, when the stream id
// differs from the subject, the stream in `<prefix>erasure:streams:<subject>`. Erasing S reads one
// set, picks the subjects that are S or start with "S:", and for each pops its ids and XDELs them, a
// bounded chunk per script call, until the list is empty; the last call also deletes the subject's
// stream states. Nothing scans the log.
import type { Redis } from 'ioredis';
import { belongsTo, redisSubjectKey, subjectRoot } from './subject.js';

export const SUBJECT_INDEX_KEY = 'erasure:';
/** Ids popped and deleted per script call: each call blocks Redis for a few ms at most. */
const CHUNK = 5000;
/** Ids per XDEL inside the script (Lua's unpack has a stack limit near 8000). */
const XDEL_STEP = 1000;

/**
 * KEYS[1]: the log, KEYS[2]: the subject's id list ("q<id>": an entry of the quarantine log),
 * KEYS[3]: its streams set, KEYS[4]: the set of subjects of its root, KEYS[5]: the quarantine log. ARGV: budget, subject, seq state key prefix. Returns {deleted, done}. The
 * pop and the XDEL happen together, so an entry is either gone with its index entry or untouched.
 */
const ERASE_LUA = `
local budget = tonumber(ARGV[1])
local deleted = 0
while budget > 0 do
  local ids = redis.call('LPOP', KEYS[2], ${XDEL_STEP})
  if not ids then break end
  local logged, quarantined = {}, {}
  for _, id in ipairs(ids) do
    if string.sub(id, 1, 1) == 'q' then quarantined[#quarantined + 1] = string.sub(id, 2)
    else logged[#logged + 1] = id end
  end
  if #logged > 0 then deleted = deleted + redis.call('XDEL', KEYS[1], unpack(logged)) end
  if #quarantined > 0 then deleted = deleted + redis.call('XDEL', KEYS[5], unpack(quarantined)) end
  budget = budget - #ids
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {deleted, 0} end
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('DEL', ARGV[3] .. ARGV[2])
for _, stream in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', ARGV[3] .. stream) end
redis.call('DEL', KEYS[3])
return {deleted, 1}
`;

type EraseCommand = (...args: (string | number)[]) => Promise<[number, number]>;

export class RedisErasure {
  constructor(
    private readonly client: Redis,
    /** key(name) of RedisService: the configured prefix. */
    private readonly key: (name: string) => string,
  ) {
    client.defineCommand('cbsaErase', { numberOfKeys: 5, lua: ERASE_LUA });
  }

  /** Deletes every indexed entry of `subject` (and of its "subject:" sub-streams); returns how many. */
  async erase(subject: string): Promise<number> {
    const key = redisSubjectKey(subject);
    const index = this.key(SUBJECT_INDEX_KEY);
    const log = this.key('stream');
    const state = this.key('seq:');
    const rootSet = `${index}subjects:${subjectRoot(key)}`;
    const members = (await this.client.smembers(rootSet)).filter((m) => belongsTo(m, key));
    // The subject itself too: its stream state may exist without any indexed entry.
    if (!members.includes(key)) members.push(key);
    const command = (this.client as unknown as { cbsaErase: EraseCommand }).cbsaErase;
    let deleted = 0;
    for (const member of members) {
      for (;;) {
        const [n, done] = await command.call(
          this.client,
          log,
          `${index}ids:${member}`,
          `${index}streams:${member}`,
          rootSet,
          this.key('quarantine'),
          CHUNK,
          member,
          state,
        );
        deleted += n;
        if (done === 1) break;
      }
    }
    return deleted;
  }

  /** Keeps the receipt in `<prefix>erasures` (no event data: who, how many, when, its id). */
  async record(receipt: ErasureReceipt): Promise<void> {
    await this.client.xadd(
      this.key('erasures'),
      '*',
      'subject',
      receipt.subject,
      'deleted',
      String(receipt.deleted),
      'receipt_id',
      receipt.receipt_id,
      'completed_at',
      receipt.completed_at,
    );
  }
}

export interface ErasureReceipt {
  subject: string;
  deleted: number;
  receipt_id: string;
  completed_at: string;
}
