// Where message ids come from: a local counter in one process, or blocks leased from Redis with
// INCRBY when several instances must never hand out the same id.
import { Logger } from '@nestjs/common';
import type { RedisService } from '../redis/redis.service.js';

export abstract class IdSource {
  /** The next id, or undefined when none can be handed out safely yet. */
  abstract next(): number | undefined;

  /** Resolves true once next() can give an id, or false after `timeoutMs`. */
  abstract whenReady(timeoutMs: number): Promise<boolean>;

  /** Whether `next` would give an id now (for readiness); does not use one up. */
  get available(): boolean {
    return true;
  }

  /** Why leasing ids last failed while Redis was reachable; undefined while it works. */
  get leaseError(): string | undefined {
    return undefined;
  }
}

/** Callers of whenReady() waiting for the first id block: each resolves true on release(), or false at its timeout. */
class ReadyWaiters {
  private waiters: (() => void)[] = [];

  wait(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }

  release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }
}

export class LocalIdSource extends IdSource {
  private last = 0;

  next(): number {
    return ++this.last;
  }

  whenReady(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

/** Leases the next block of ids from a shared counter: resolves with the block's last id. */
export type IdLessor = (size: number, minimum: number) => Promise<number>;

/**
 * Blocks of ids leased from a shared counter that is not Redis (SINK=nats without REDIS_URL: a key
 * in a JetStream KV bucket, see nats-id-lessor.ts), once the engine attaches its lessor. Each lease
 * raises the counter to this instance's highest id and its clock's floor, so ids are unique across
 * instances and restarts, and increase on every connection. With no block left no id is given (the
 * frame waits, then is refused): that happens only while the engine is down, which refuses anyway.
 * Blocks double (up to 64x) while each lasts under a second, as with Redis.
 */
export class BlockIdSource extends IdSource {
  private nextId = 1;
  private end = 0;
  private reserve: { start: number; end: number } | undefined;
  private lessor?: IdLessor;
  private leasing = false;
  private highest = 0;
  private size: number;
  private blockStartedAt = 0;
  private readonly waiters = new ReadyWaiters();

  constructor(
    private readonly blockSize: number,
    private readonly floor: () => number = timeFloor,
  ) {
    super();
    this.size = blockSize;
  }

  /** The engine is connected: lease from it from now on. */
  attach(lessor: IdLessor): void {
    this.lessor = lessor;
    this.lease();
  }

  override get available(): boolean {
    return this.nextId <= this.end || this.reserve !== undefined;
  }

  next(): number | undefined {
    if (this.nextId > this.end) {
      if (this.reserve === undefined) {
        this.lease();
        return undefined;
      }
      this.use(this.reserve);
      this.reserve = undefined;
    }
    const id = this.nextId++;
    if (this.reserve === undefined && this.end - id < this.size) this.lease();
    return id;
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.available) return Promise.resolve(true);
    this.lease();
    return this.waiters.wait(timeoutMs);
  }

  private use(block: { start: number; end: number }): void {
    const now = Date.now();
    if (this.end !== 0 && now - this.blockStartedAt < FAST_BLOCK_MS) {
      this.size = Math.min(this.size * 2, this.blockSize * MAX_GROWTH);
    }
    this.blockStartedAt = now;
    this.nextId = block.start;
    this.end = block.end;
  }

  private lease(): void {
    if (this.leasing || this.lessor === undefined || this.reserve !== undefined) return;
    this.leasing = true;
    const size = this.size;
    this.lessor(size, Math.max(this.highest, this.floor()))
      .then((end) => {
        this.highest = Math.max(this.highest, end);
        const block = { start: end - size + 1, end };
        if (this.nextId > this.end) this.use(block);
        else this.reserve = block;
        this.waiters.release();
      })
      // The engine reports its outage; the next frame leases again.
      .catch(() => undefined)
      .finally(() => (this.leasing = false));
  }
}

/**
 * The time-derived floor of the shared counter: every lease raises the counter to at least
 * (ms since 2026-01-01 UTC) x 1000, read from the Redis server's clock and this instance's. So a
 * counter that restarts empty resumes above every id handed out before, as long as the cluster
 * never averaged more than 1,000 ids per ms (1 M/s) since 2026 (ids stay below 2^53 until ~2311).
 */
export const FLOOR_T0_MS = Date.UTC(2026, 0, 1);
export const FLOOR_IDS_PER_MS = 1000;

export function timeFloor(nowMs = Date.now()): number {
  return Math.max(0, nowMs - FLOOR_T0_MS) * FLOOR_IDS_PER_MS;
}

/** Ids handed out while Redis is unreachable live above 2^40 boundaries, one range per slot. */
const EPOCH = 2 ** 40;
const SLOTS = 2048;
const SLOT_RANGE = EPOCH / SLOTS;
/** A block used up faster than this makes the next lease twice as large (up to 64 x ID_BLOCK_SIZE). */
const FAST_BLOCK_MS = 1000;
const MAX_GROWTH = 64;

/**
 * Leases blocks of ids with INCRBY on `<prefix>message_id` and keeps at least two blocks' worth in
 * reserve, leasing again as soon as it drops below that, so a frame never waits on Redis. Blocks
 * start at ID_BLOCK_SIZE and double (up to 64x) while each lasts under a second. Ids are unique
 * across instances and increase on every connection.
 *
 * Before the first lease there is no safe id, so none is given (the frame is refused). While Redis
 * is unreachable and the leased ids run out, ids come from this instance's own slot above the next
 * 2^40 boundary: unique (each instance has its slot) and above every leased id; when Redis returns,
 * the counter is raised past that boundary before the next lease, so ids keep increasing.
 */
export class LeasedIdSource extends IdSource {
  private nextId = 1;
  private end = 0;
  private readonly reserve: { start: number; end: number }[] = [];
  /** Ids in `reserve`. */
  private reserved = 0;
  private leasing = false;
  private slot: number | undefined;
  /** Set while ids come from the outage range: the counter must be raised past it. */
  private outageTop: number | undefined;
  private size: number;
  private blockStartedAt = 0;
  /** The highest id this instance ever held: a counter found below it (Redis restarted empty) is raised. */
  private highest = 0;
  private readonly waiters = new ReadyWaiters();
  // Readiness and logging of lease failures: kept apart from the lease logic.
  private failure: string | undefined;
  private readonly logger = new Logger('IdSource');

  constructor(
    private readonly redis: RedisService,
    private readonly blockSize: number,
    /** The instance clock's floor (replaceable in unit tests, whose fake Redis has no clock). */
    private readonly floor: () => number = timeFloor,
  ) {
    super();
    this.size = blockSize;
    redis.ready$.subscribe(() => this.lease());
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.nextId <= this.end || this.reserve.length > 0) return Promise.resolve(true);
    this.lease();
    return this.waiters.wait(timeoutMs);
  }

  override get available(): boolean {
    if (this.nextId <= this.end || this.reserve.length > 0) return true;
    // What advance() would do: the outage range, once per outage, after a first lease.
    return this.end !== 0 && this.slot !== undefined && !this.redis.ready && this.outageTop === undefined;
  }

  override get leaseError(): string | undefined {
    return this.failure;
  }

  /** Logs once when leases start failing (or fail differently) and once when they work again. */
  private leaseFailed(err: unknown): void {
    // An outage is reported by RedisService; here only errors from a reachable Redis (ACL, key type).
    if (!this.redis.ready) return;
    const message = err instanceof Error ? err.message : String(err);
    if (message === this.failure) return;
    this.failure = message;
    this.logger.error(`Leasing message ids fails: ${message}`);
  }

  private leaseWorked(): void {
    if (this.failure === undefined) return;
    this.failure = undefined;
    this.logger.log('Leasing message ids works again');
  }

  next(): number | undefined {
    if (this.nextId > this.end && !this.advance()) return undefined;
    const id = this.nextId++;
    if (this.end - id + this.reserved < 2 * this.size) this.lease();
    return id;
  }

  /** Moves to the next reserved block, or into the outage range; false when no id can be given. */
  private advance(): boolean {
    const block = this.reserve.shift();
    if (block !== undefined) {
      this.reserved -= block.end - block.start + 1;
      this.use(block);
      return true;
    }
    this.lease();
    if (this.end === 0 || this.slot === undefined || this.redis.ready) return false;
    if (this.outageTop === undefined) {
      const base = (Math.floor(this.end / EPOCH) + 1) * EPOCH;
      this.nextId = base + this.slot * SLOT_RANGE;
      this.end = this.nextId + SLOT_RANGE - 1;
      this.outageTop = base + EPOCH;
      this.highest = Math.max(this.highest, this.outageTop);
      return true;
    }
    return false;
  }

  private use(block: { start: number; end: number }): void {
    const now = Date.now();
    if (this.end !== 0 && now - this.blockStartedAt < FAST_BLOCK_MS) {
      this.size = Math.min(this.size * 2, this.blockSize * MAX_GROWTH);
    }
    this.blockStartedAt = now;
    this.nextId = block.start;
    this.end = block.end;
  }

  lease(): void {
    const client = this.redis.client;
    if (this.leasing || client === undefined || !this.redis.ready) return;
    this.leasing = true;
    const key = this.redis.key('message_id');
    const size = this.size;
    const raiseTo = this.outageTop;
    const minimum = Math.max(this.highest, this.floor());
    const slot =
      this.slot === undefined
        ? client.incr(this.redis.key('slot')).then((n) => (this.slot = n % SLOTS))
        : Promise.resolve(this.slot);
    let leased = false;
    slot
      .then(() => client.eval(LEASE, 1, key, String(size), String(minimum)) as Promise<number>)
      .then((end) => {
        leased = true;
        this.highest = Math.max(this.highest, end);
        this.leaseWorked();
        const block = { start: end - size + 1, end };
        if (raiseTo !== undefined && this.outageTop === raiseTo) {
          // Back from an outage: this block is above every id handed out so far (older reserved
          // blocks are not), so switch to it at once.
          this.outageTop = undefined;
          this.reserve.length = 0;
          this.reserved = 0;
          this.use(block);
        } else {
          // Blocks are used in the order they were leased, which is increasing.
          this.reserve.push(block);
          this.reserved += size;
        }
        this.waiters.release();
      })
      .catch((err: unknown) => this.leaseFailed(err))
      .finally(() => {
        this.leasing = false;
        // Still short (a burst used the new block up while it was in flight): lease again.
        if (leased && this.end - this.nextId + 1 + this.reserved < 2 * this.size) this.lease();
      });
  }
}

/**
 * A missing counter (Redis new, or restarted empty) starts a minute's worth of floor higher, above any
 * block other instances leased from the lost counter just before and still hold in reserve.
 */
const EMPTY_MARGIN = 60_000 * FLOOR_IDS_PER_MS;

/**
 * Leases ARGV[1] ids: raises the counter to at least ARGV[2] (the instance's highest id and its clock's
 * floor) and to the floor from the Redis server's clock, then INCRBY. Returns the block's last id.
 */
export const LEASE = `local t = redis.call('TIME')
local floor = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - ${FLOOR_T0_MS}) * ${FLOOR_IDS_PER_MS}
local want = tonumber(ARGV[2])
if floor > want then want = floor end
local raw = redis.call('GET', KEYS[1])
if not raw then want = want + ${EMPTY_MARGIN} end
local cur = tonumber(raw or '0')
if want > cur then redis.call('SET', KEYS[1], string.format('%d', want)) end
return redis.call('INCRBY', KEYS[1], ARGV[1])`;
