// The slot id scheme against a fake store that can be rolled back to any earlier state, flushed, or
// answer late, with processes that restart and whose clocks disagree a little: no id is ever handed
// out twice, none is above the time floor + 6·10^11, each process's ids increase, and with a healthy
// store a process that has warmed up is never without an id at its slot's rate; for several ID_SLOTS.
import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import type { IdLessor } from './id-lessor.js';
import { ID_HEADROOM, SlotIdSource, maxBurst, timeFloor } from './id-source.js';

const TTL = 2000;
const T0 = Date.UTC(2026, 5, 1);

type Records = Map<number, { token: string; expires: number }>;

/** A slot store whose every state is kept, so it can be set back to any of them (a promoted replica). */
class FakeStore {
  records: Records = new Map();
  readonly history: Records[] = [new Map() as Records];
  readonly pending: (() => void)[] = [];

  constructor(private readonly clock: { t: number }) {}

  private live(slot: number) {
    const r = this.records.get(slot);
    return r !== undefined && r.expires > this.clock.t ? r : undefined;
  }

  private save(): void {
    this.history.push(new Map(this.records));
  }

  /** The store for one process: each call runs when its reply is delivered (later, in any order). */
  storeFor(alive: () => boolean): IdLessor {
    const later = <T>(run: () => T) =>
      new Promise<T>((resolve) => this.pending.push(() => (alive() ? resolve(run()) : undefined)));
    return {
      acquire: (slot, token, ttl) =>
        later(() => {
          if (this.live(slot) !== undefined) return false;
          this.records.set(slot, { token, expires: this.clock.t + ttl });
          this.save();
          return true;
        }),
      renew: (slot, token, ttl) =>
        later(() => {
          const r = this.live(slot);
          if (r !== undefined && r.token !== token) return false;
          this.records.set(slot, { token, expires: this.clock.t + ttl });
          this.save();
          return true;
        }),
      release: (slot, token) =>
        later(() => {
          if (this.live(slot)?.token === token) this.records.delete(slot);
          this.save();
        }),
    };
  }

  deliver(pick: number): void {
    if (this.pending.length === 0) return;
    this.pending.splice(pick % this.pending.length, 1)[0]();
  }

  rollback(pick: number): void {
    this.records = new Map(this.history[pick % this.history.length]);
    this.save();
  }
}

type Step =
  | { kind: 'advance'; ms: number }
  | { kind: 'maintain'; p: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'draw'; p: number; n: number }
  | { kind: 'rollback'; pick: number }
  | { kind: 'flush' }
  | { kind: 'restart'; p: number };

const settle = () => new Promise((resolve) => setImmediate(resolve));

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: TTL / 4 }) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('maintain' as const), p: fc.nat(3) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(20) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('draw' as const),
      p: fc.nat(3),
      n: fc.integer({ min: 1, max: 50 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rollback' as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), p: fc.nat(3) }) },
);

describe.each([2, 8, 64])(`${SlotIdSource.name} with ID_SLOTS=%i`, (slots) => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  it('never hands out an id twice, nor above floor + 6·10^11, and increases per process, whatever the store does', async () => {
    let handedOut = 0;
    let slotTaken = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 300, size: 'max' }),
        // Each process's clock is off by up to TTL/8 (the scheme allows TTL/4 between two hosts).
        fc.array(fc.integer({ min: -TTL / 8, max: TTL / 8 }), { minLength: 4, maxLength: 4 }),
        // Small allowances, and the largest the settings allow (ids right up to the headroom).
        fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.constant(maxBurst(TTL, slots))),
        async (steps, skews, burst) => {
          const clock = { t: T0 };
          const store = new FakeStore(clock);
          const seen = new Map<number, number>();
          const make = (p: number) => {
            const entry = { alive: true, last: 0, source: undefined as unknown as SlotIdSource };
            entry.source = new SlotIdSource(
              { ttlMs: TTL, burst, slots, now: () => clock.t + skews[p], mono: () => clock.t, timer: false },
              store.storeFor(() => entry.alive),
            );
            return entry;
          };
          const processes = [0, 1, 2, 3].map(make);
          for (const s of steps) {
            if (s.kind === 'advance') clock.t += s.ms;
            else if (s.kind === 'maintain') processes[s.p].source.maintain();
            else if (s.kind === 'deliver') store.deliver(s.pick);
            else if (s.kind === 'rollback') store.rollback(s.pick);
            else if (s.kind === 'flush') store.records = new Map();
            else if (s.kind === 'restart') {
              // kill -9: it never hears from the store again, and a new process takes its place.
              processes[s.p].alive = false;
              processes[s.p] = make(s.p);
            } else {
              const proc = processes[s.p];
              for (let i = 0; i < s.n; i++) {
                const id = proc.source.next();
                if (id === undefined) continue;
                handedOut++;
                expect(seen.has(id)).toBe(false);
                seen.set(id, clock.t);
                expect(id).toBeGreaterThan(proc.last);
                proc.last = id;
                expect(id).toBeLessThanOrEqual(timeFloor(clock.t) + ID_HEADROOM);
                expect(Number.isSafeInteger(id)).toBe(true);
              }
            }
            await settle();
          }
          // How often two processes ever held one slot (the case the fencing is for).
          if (
            new Set(processes.map((p) => p.source.heldSlot)).size <
            processes.filter((p) => p.source.heldSlot !== undefined).length
          )
            slotTaken++;
        },
      ),
      { numRuns: 200 },
    );
    // The property must have exercised ids, not only refusals.
    expect(handedOut).toBeGreaterThan(3_000);
    expect(slotTaken).toBeGreaterThan(0);
  });

  it('with a healthy store, is never without an id at its slot rate once warmed up (up to four processes)', async () => {
    const count = Math.min(4, slots);
    // Up to half the slot's share of the clock (1,000 / slots ids per ms).
    const share = 1000 / slots;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            ms: fc.integer({ min: 1, max: 50 }),
            perMs: fc.integer({ min: 0, max: Math.floor(share / 2) }),
          }),
          {
            minLength: 1,
            maxLength: 100,
          },
        ),
        async (rounds) => {
          const clock = { t: T0 };
          const store = new FakeStore(clock);
          const burst = 100_000;
          const processes = Array.from(
            { length: count },
            () =>
              new SlotIdSource(
                { ttlMs: TTL, burst, slots, now: () => clock.t, mono: () => clock.t, timer: false },
                store.storeFor(() => true),
              ),
          );
          const healthy = async () => {
            while (store.pending.length > 0) {
              store.deliver(0);
              await settle();
            }
          };
          await healthy();
          // The start: every process waits one TTL (and a little), renewing every TTL/8.
          for (let i = 0; i < 12; i++) {
            clock.t += TTL / 8;
            processes.forEach((p) => p.maintain());
            await healthy();
          }
          expect(new Set(processes.map((p) => p.heldSlot)).size).toBe(count);
          let missing = 0;
          const draw = (p: SlotIdSource, n: number) => {
            for (let i = 0; i < n; i++) if (p.next() === undefined) missing++;
          };
          // A first burst right away: a second of the slot's share has built up since the start, up to the allowance.
          for (const p of processes) draw(p, Math.min(30_000, share * 300));
          let renewedAt = clock.t;
          for (const { ms, perMs } of rounds) {
            const n = ms * perMs;
            clock.t += ms;
            if (clock.t - renewedAt >= TTL / 8) {
              processes.forEach((p) => p.maintain());
              await healthy();
              renewedAt = clock.t;
            }
            for (const p of processes) draw(p, n);
          }
          expect(missing).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('bounds ID_BLOCK_SIZE so that its lead stays within the headroom', () => {
    expect(maxBurst(600_000, slots) * slots + slots + (600_000 + 100) * 1000).toBeLessThanOrEqual(
      ID_HEADROOM,
    );
    expect((maxBurst(600_000, slots) + 1) * slots + slots + (600_000 + 100) * 1000).toBeGreaterThan(
      ID_HEADROOM,
    );
  });
});
