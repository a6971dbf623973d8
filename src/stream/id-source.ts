// Where message ids come from: a local counter in one process, or, when several processes share a
// log (Redis, or NATS without Redis), the clock in a slot of the id space each process leases for
// itself. The scheme, and why it holds when the lease records are rolled back or lost, is in
// docs/delivery-engines.md ("Message ids").
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IdLessor } from './id-lessor.js';

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

export class LocalIdSource extends IdSource {
  private last = 0;

  next(): number {
    return ++this.last;
  }

  whenReady(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

/**
 * The time floor: (ms since 2026-01-01 UTC) x 1000. A slot's ids follow it, so the id space is
 * consumed by time (1,000 ids per ms for the whole cluster; below 2^53 until about 2311), never by
 * outages or restarts.
 */
export const FLOOR_T0_MS = Date.UTC(2026, 0, 1);
export const FLOOR_IDS_PER_MS = 1000;

export function timeFloor(nowMs = Date.now()): number {
  return Math.max(0, nowMs - FLOOR_T0_MS) * FLOOR_IDS_PER_MS;
}

/** Slots of the id space by default (ID_SLOTS): slot s hands out ids = s (mod slots); a process holds one. */
export const ID_SLOTS = 8;
/** The most ID_SLOTS may be: each slot's share of the clock is 1,000,000 / ID_SLOTS ids/s. */
export const ID_SLOTS_MAX = 1024;
/** The most an id may ever be above the time floor when it is handed out. */
export const ID_HEADROOM = 6e11;
/** A process is ready once it can serve this long of its slot's share at once, not just one id. */
const WARMUP_MS = 100;

export interface SlotIdOptions {
  /** How long a slot lease lasts unrenewed (ID_SLOT_TTL_MS). */
  ttlMs: number;
  /** Ids a process may hand out ahead of its slot's share of the clock (ID_BLOCK_SIZE). */
  burst: number;
  /** Wall clock (ms since the epoch), replaceable in tests. */
  now?: () => number;
  /** Monotonic clock (ms), replaceable in tests. */
  mono?: () => number;
  /** Slots the id space is cut into (ID_SLOTS); the same in every process sharing the log. */
  slots?: number;
  /** false: no timer renews the slot; the caller calls maintain() (tests). */
  timer?: boolean;
}

/**
 * The largest ID_BLOCK_SIZE for ID_SLOT_TTL_MS and ID_SLOTS whose lead over the floor (burst x slots),
 * plus the slot number and a margin for clocks that disagree, stays within ID_HEADROOM.
 */
export function maxBurst(ttlMs: number, slots = ID_SLOTS): number {
  return Math.floor((ID_HEADROOM - (ttlMs + WARMUP_MS) * FLOOR_IDS_PER_MS - slots) / slots);
}

/**
 * Ids from a leased slot, following the clock. The process holds slot s (a record in the engine,
 * leased through its IdLessor, with a TTL, renewed every TTL/8) and hands out s + k x SLOTS for increasing k, with k x SLOTS never
 * above timeFloor(now) + burst x SLOTS: so each id is at most that far above the floor, and a burst
 * above the slot's share of the clock (1,000 / SLOTS ids per ms) draws on the allowance, which
 * refills at that share while the process is slower.
 *
 * It uses its slot only while its last renewal was sent less than 3/4 TTL ago: a process that may
 * have lost its slot (its record rolled back, flushed or taken) stops before anyone who takes the
 * slot next can start. And whoever takes a slot starts above the highest id any earlier holder could
 * have handed out: above timeFloor(taken + TTL) + burst x SLOTS, which it reaches about TTL later.
 * So no id repeats however the records are rolled back or lost, provided every process shares
 * ID_SLOTS, ID_SLOT_TTL_MS and ID_BLOCK_SIZE and the hosts' clocks agree within TTL/4.
 */
export class SlotIdSource extends IdSource {
  private readonly lessor: IdLessor;
  private readonly token = randomBytes(9).toString('base64url');
  private readonly ttlMs: number;
  private readonly lead: number;
  private readonly slots: number;
  private readonly now: () => number;
  private readonly mono: () => number;
  private slot: number | undefined;
  /** Monotonic time until which the slot may be used (3/4 TTL after the last renewal was sent). */
  private validUntil = 0;
  /** The last k handed out (id = k x slots + slot), or the k a new slot starts above. */
  private lastK = 0;
  private acquiring = false;
  private renewing = false;
  /** Set when a renewal found the slot held by another: keep it until validUntil, take another. */
  private lost = false;
  private timer?: NodeJS.Timeout;
  private failure: string | undefined;
  private readonly logger = new Logger('IdSource');
  private readonly timed: boolean;

  /**
   * `lessor` is the engine's (Redis, or NATS without Redis). Until it can answer (NATS still
   * connecting) its requests fail quietly while it says it is unreachable; the timer and
   * whenReady() ask again.
   */
  constructor(options: SlotIdOptions, lessor: IdLessor) {
    super();
    this.timed = options.timer ?? true;
    this.ttlMs = options.ttlMs;
    this.slots = options.slots ?? ID_SLOTS;
    this.lead = options.burst * this.slots;
    this.now = options.now ?? Date.now;
    this.mono = options.mono ?? (() => performance.now());
    this.lessor = lessor;
    this.acquire();
    if (!this.timed) return;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.maintain(), Math.max(10, this.ttlMs / 8));
    this.timer.unref();
  }

  /** Shutdown: stop renewing and give the slot up (whoever takes it next still starts above it). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const slot = this.slot;
    this.slot = undefined;
    if (slot !== undefined) await this.lessor.release(slot, this.token).catch(() => undefined);
  }

  /** The slot held now, for tests and logs. */
  get heldSlot(): number | undefined {
    return this.slot;
  }

  override get available(): boolean {
    return this.nextK() !== undefined;
  }

  override get leaseError(): string | undefined {
    return this.failure;
  }

  next(): number | undefined {
    const k = this.nextK();
    if (k === undefined) {
      if (this.slot === undefined || this.mono() >= this.validUntil) this.acquire();
      return undefined;
    }
    this.lastK = k;
    return k * this.slots + this.slot!;
  }

  async whenReady(timeoutMs: number): Promise<boolean> {
    const deadline = this.mono() + timeoutMs;
    // Ready once a first burst can be served, not just one id (or at the deadline, whichever first).
    const warm = Math.min(this.lead, WARMUP_MS * FLOOR_IDS_PER_MS);
    for (;;) {
      const k = this.nextK();
      if (k !== undefined && k * this.slots + warm <= timeFloor(this.now()) + this.lead) return true;
      if (this.mono() >= deadline) return k !== undefined;
      this.acquire();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The k of the next id, or undefined when no id may be handed out now. */
  private nextK(): number | undefined {
    if (this.slot === undefined || this.mono() >= this.validUntil) return undefined;
    const floor = timeFloor(this.now());
    const k = Math.max(this.lastK + 1, Math.ceil(floor / this.slots));
    return k * this.slots <= floor + this.lead ? k : undefined;
  }

  /** Renews the slot, or takes one when there is none (every TTL/8). */
  maintain(): void {
    if (this.slot === undefined || this.lost) return this.acquire();
    this.renew();
  }

  private renew(): void {
    const lessor = this.lessor;
    const slot = this.slot;
    if (slot === undefined || this.renewing) return;
    this.renewing = true;
    const sent = this.mono();
    lessor
      .renew(slot, this.token, this.ttlMs)
      .then((held) => {
        if (this.slot !== slot) return;
        if (held) {
          this.validUntil = Math.max(this.validUntil, sent + (this.ttlMs * 3) / 4);
          this.worked();
        } else {
          // Taken by another process (a rolled-back record): ours until validUntil, then another slot.
          this.lost = true;
          this.logger.warn(`Id slot ${slot} is held by another process; taking another`);
          this.acquire();
        }
      })
      .catch((err: unknown) => this.failed(err))
      .finally(() => (this.renewing = false));
  }

  private acquire(): void {
    const lessor = this.lessor;
    if (this.acquiring) return;
    if (this.slot !== undefined && !this.lost && this.mono() < this.validUntil) return;
    this.acquiring = true;
    const first = Math.floor(Math.random() * this.slots);
    const attempt = async (): Promise<void> => {
      for (let i = 0; i < this.slots; i++) {
        const slot = (first + i) % this.slots;
        if (slot === this.slot) continue;
        const sent = this.mono();
        if (!(await lessor.acquire(slot, this.token, this.ttlMs))) continue;
        // Above every id an earlier holder could hand out: they stop within 3/4 TTL of their last
        // renewal, which was before this take, at an id at most timeFloor(then) + lead.
        const start = timeFloor(this.now() + this.ttlMs) + this.lead;
        const previous = this.slot;
        this.slot = slot;
        this.lost = false;
        this.validUntil = sent + (this.ttlMs * 3) / 4;
        this.lastK = Math.max(this.lastK, Math.ceil(start / this.slots));
        this.worked();
        if (previous !== undefined) void lessor.release(previous, this.token).catch(() => undefined);
        return;
      }
      throw new Error(
        `all ${this.slots} id slots are held by other processes (ID_SLOTS=${this.slots}: at most ${this.slots} processes, workers included, share one log; raise ID_SLOTS on every one of them, or run fewer)`,
      );
    };
    attempt()
      .catch((err: unknown) => this.failed(err))
      .finally(() => (this.acquiring = false));
  }

  /** Logs once when leasing starts failing (or fails differently) and once when it works again. */
  private failed(err: unknown): void {
    if (this.lessor.reachable?.() === false) return;
    const message = err instanceof Error ? err.message : String(err);
    if (message === this.failure) return;
    this.failure = message;
    this.logger.error(`Leasing an id slot fails: ${message}`);
  }

  private worked(): void {
    if (this.failure === undefined) return;
    this.failure = undefined;
    this.logger.log('Leasing an id slot works again');
  }
}
