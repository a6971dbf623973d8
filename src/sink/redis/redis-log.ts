// The StreamLog on Redis Streams. One Lua script per batch (ioredis defineCommand: EVALSHA, and
// EVAL again after a Redis restart lost the script cache) checks each entry's seq against its
// stream's state, XADDs it and records the seq, atomically: an entry is stored at most once per
// (stream, seq), however often it is resent, and a batch timed out or cut off by a reconnect is
// never resent by ioredis (autoResendUnfulfilledCommands is off on the sink connection).
import type { Redis } from 'ioredis';
import { redisSubjectKey } from '../../privacy/subject.js';
import type { RedisService } from '../../redis/redis.service.js';
import { type AppendOutcome, StreamLog, FAILED, type SinkEntry } from '../stream-log.js';

/**
 * KEYS[1]: the stream, KEYS[2]: the quarantine log. ARGV: store ('1' append, '0' seq state only),
 * state TTL (s), state key prefix, policy version ('' without a field policy; else stored as the
 * entry's `policy` field), subject index prefix ('' when erasure is off; see
 * src/privacy/redis-erasure.ts), MAX_SEQ_GAP, then 2 per entry: a header "<stream id>\n<seq>\n
 * <message_id>\n<client_id>\n<server_timestamp>\n<after>\n<subject>\n<schema errors as JSON, ''
 * unless quarantined>\n<sub>\n<kid>\n<category>" (the category last: it is the one field that may
 * hold a newline), and data. `sub` and `kid` are the token's (JWT mode; '' under static tokens),
 * stored with every entry as provenance. Per entry it returns the stream's previous last seq (stored;
 * 0 when its state was unknown: the seq is its baseline), -1 (duplicate), -3 (the seq jumped more
 * than MAX_SEQ_GAP past a known last seq: not stored) or -2 (failed; every later entry of that
 * stream in the batch fails too, so none overtakes it). `after` (0: none) is the highest seq of the
 * stream in an earlier batch still in flight: a stream whose last seq is below it fails, since that
 * batch failed (or has not run yet) and nothing may overtake it. These are the rules of
 * batch-decision.ts, which the script follows step by step. Seqs are compared
 * as numbers (exact below 2^53) but written back as the strings received (tostring would round them).
 */
const APPEND_LUA = `
local store = ARGV[1] == '1'
local ttl = ARGV[2]
local prefix = ARGV[3]
local policy = ARGV[4]
local index = ARGV[5]
local maxGap = tonumber(ARGV[6])
local out = {}
local reached = {}
local fresh = {}
local n = 0
local function failedReply(r) return type(r) == 'table' and r.err ~= nil end
-- The XADD, and with erasure on the subject's index in the same script: an entry is never in the
-- log without its index entry (a failed index write takes the entry out again).
-- An entry that failed its schema (errors ~= '') goes to the quarantine log (KEYS[2]), with its errors.
local function append(messageId, clientId, timestamp, category, stream, seqText, data, subject, errors, sub, kid)
  local key = KEYS[1]
  local id
  if policy == '' and errors == '' then
    -- The common case, without building a table per entry.
    id = redis.pcall('XADD', key, '*', 'message_id', messageId, 'client_id', clientId,
      'server_timestamp', timestamp, 'category', category, 'stream', stream, 'seq', seqText, 'sub', sub,
      'kid', kid, 'data', data)
  else
    local fields = {'message_id', messageId, 'client_id', clientId, 'server_timestamp', timestamp,
      'category', category, 'stream', stream, 'seq', seqText, 'sub', sub, 'kid', kid, 'data', data}
    if policy ~= '' then
      fields[#fields + 1] = 'policy'
      fields[#fields + 1] = policy
    end
    if errors ~= '' then
      key = KEYS[2]
      fields[#fields + 1] = 'errors'
      fields[#fields + 1] = errors
    end
    id = redis.pcall('XADD', key, '*', unpack(fields))
  end
  if index == '' or subject == '' or failedReply(id) then return id end
  local indexed = id
  if errors ~= '' then indexed = 'q' .. id end
  local colon = string.find(subject, ':', 1, true)
  local root = subject
  if colon then root = string.sub(subject, 1, colon - 1) end
  local r = redis.pcall('RPUSH', index .. 'ids:' .. subject, indexed)
  if not failedReply(r) then r = redis.pcall('SADD', index .. 'subjects:' .. root, subject) end
  if not failedReply(r) and stream ~= subject and stream ~= '' then
    r = redis.pcall('SADD', index .. 'streams:' .. subject, stream)
  end
  if failedReply(r) then
    redis.pcall('XDEL', key, id)
    return r
  end
  return id
end
local function expiresAt() return tonumber(redis.call('TIME')[1]) + tonumber(ttl) end
-- The batch rules of batch-decision.ts, step by step under the same names (outcomes: a seq >= 0 is
-- new, -1 DUPLICATE, -2 FAILED, -3 INVALID). A failed store is spreadFailures folded in: advance
-- makes the stream UNREADABLE, so decide fails its later entries.
local UNREADABLE = -1
local function baseline(lastSeq, after)
  if lastSeq < 0 or lastSeq < after then return UNREADABLE end
  return lastSeq
end
local function decide(prev, seq)
  if prev < 0 then return -2 end
  if seq <= prev then return -1 end
  if prev > 0 and seq - prev > maxGap then return -3 end
  return prev
end
local function advance(prev, seq, outcome)
  if outcome == -2 then return UNREADABLE end
  if outcome >= 0 then return seq end
  return prev
end
for i = 7, #ARGV, 2 do
  n = n + 1
  local stream, seqText, messageId, clientId, timestamp, after, subject, errors, sub, kid, category =
    string.match(ARGV[i], '^([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  if stream == '' then
    -- No stream: no seq rule; stored (0), or FAILED alone.
    out[n] = 0
    if store then
      local r = append(messageId, clientId, timestamp, category, '', '', ARGV[i + 1], subject, errors, sub, kid)
      if failedReply(r) then out[n] = -2 end
    end
  else
    -- reached: the stream's last seq so far in this batch (planBatch).
    local prev = reached[stream]
    if prev == nil then
      local raw = redis.pcall('GET', prefix .. stream)
      local lastSeq
      if failedReply(raw) then lastSeq = UNREADABLE else lastSeq = tonumber(raw or '0') end
      if raw == false then fresh[stream] = true end
      prev = baseline(lastSeq, tonumber(after))
    end
    local seq = tonumber(seqText)
    local outcome = decide(prev, seq)
    if outcome >= 0 then
      local id = nil
      local ok = true
      if store then
        id = append(messageId, clientId, timestamp, category, stream, seqText, ARGV[i + 1], subject, errors, sub, kid)
        ok = not failedReply(id)
      end
      if ok and failedReply(redis.pcall('SET', prefix .. stream, seqText, 'EX', ttl)) then
        -- (an index entry left behind points at nothing: erasure counts only what XDEL deletes)
        if id ~= nil then redis.pcall('XDEL', errors == '' and KEYS[1] or KEYS[2], id) end
        ok = false
      end
      if ok and fresh[stream] then
        fresh[stream] = nil
        redis.pcall('ZADD', prefix .. '#', expiresAt(), stream)
      end
      if not ok then outcome = -2 end
    end
    out[n] = outcome
    reached[stream] = advance(prev, seq, outcome)
  end
end
return out
`;

/**
 * The count of stream states, without SCAN: the append script adds a stream to the index
 * `<prefix>#` (no stream id holds '#') when it creates its state key, scored with when that key
 * would expire. Here the streams whose score has passed are looked at (at most 1,000 a call): gone
 * ones leave the index, the others (written since) are scored again with their key's TTL. Each live
 * stream is looked at about once per STREAM_STATE_TTL_S, so the cost follows the rate of new streams.
 * KEYS[1]: the index. ARGV: the state key prefix. Returns the index's size.
 */
const COUNT_LUA = `
local now = tonumber(redis.call('TIME')[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, stream in ipairs(due) do
  local ttl = redis.call('TTL', ARGV[1] .. stream)
  if ttl == -2 then
    redis.call('ZREM', KEYS[1], stream)
  else
    redis.call('ZADD', KEYS[1], now + math.max(ttl, 1), stream)
  end
end
return redis.call('ZCARD', KEYS[1])
`;

type CountCommand = (key: string, prefix: string) => Promise<number>;
type AppendCommand = (key: string, ...args: (string | number)[]) => Promise<number[]>;

export class RedisStreamSink extends StreamLog {
  private readonly client: Redis;
  private readonly key: string;
  private readonly statePrefix: string;
  /** `<prefix>quarantine`: events that failed their schema (EVENT_SCHEMAS_DIR). */
  private readonly quarantineKey: string;

  constructor(
    redis: RedisService,
    private readonly ttlS: number,
    /** MAX_SEQ_GAP: a seq further than this past a known last seq is refused. */
    private readonly maxSeqGap: number,
    /** The field policy's version, stored with every entry ('' without a policy). */
    private readonly policyVersion = '',
    /** The per-subject index's key prefix ('' when erasure is off: nothing indexed). */
    private readonly indexPrefix = '',
  ) {
    super();
    this.client = redis.sink!;
    this.client.defineCommand('cbsaAppend', { numberOfKeys: 2, lua: APPEND_LUA });
    this.client.defineCommand('cbsaCountStates', { numberOfKeys: 1, lua: COUNT_LUA });
    this.key = redis.key('stream');
    this.quarantineKey = redis.key('quarantine');
    this.statePrefix = redis.key('seq:');
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Each entry's `after` is checked in the script, atomically with its append. */
  override get pipelined(): boolean {
    return true;
  }

  async append(entries: readonly SinkEntry[], store: boolean): Promise<AppendOutcome[]> {
    const args: (string | number)[] = [
      store ? '1' : '0',
      this.ttlS,
      this.statePrefix,
      this.policyVersion,
      this.indexPrefix,
      this.maxSeqGap,
    ];
    // Two arguments per entry, not eight: ioredis measures and frames every argument on its own
    // (about half the cost of a batch's command in a micro-benchmark); the script splits the header.
    for (const e of entries) {
      args.push(
        `${e.stream}\n${e.seq}\n${e.messageId}\n${e.clientId}\n${e.timestamp}\n${e.after ?? 0}\n` +
          `${this.indexPrefix === '' ? '' : redisSubjectKey(e.subject ?? '')}\n${e.quarantine ?? ''}\n` +
          `${e.sub ?? ''}\n${e.kid ?? ''}\n${e.category}`,
        e.data,
      );
    }
    try {
      const command = (this.client as unknown as { cbsaAppend: AppendCommand }).cbsaAppend;
      return await command.call(this.client, this.key, this.quarantineKey, ...args);
    } catch {
      return entries.map(() => FAILED);
    }
  }

  async lastSeq(stream: string): Promise<number> {
    const raw = await this.client.get(this.statePrefix + stream);
    return raw === null ? 0 : Number(raw);
  }

  override countStates(): Promise<number> {
    const command = (this.client as unknown as { cbsaCountStates: CountCommand }).cbsaCountStates;
    return command.call(this.client, this.statePrefix + '#', this.statePrefix);
  }
}
