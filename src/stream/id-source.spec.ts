import { Subject } from 'rxjs';
import type { RedisService } from '../redis/redis.service.js';
import { BlockIdSource, type IdLessor, LeasedIdSource, timeFloor } from './id-source.js';

/** An in-memory stand-in for the few Redis commands the leases use, with a switch for outages. */
function fakeRedis() {
  const store = new Map<string, number>();
  const state = { ready: true };
  const ready$ = new Subject<void>();
  const client = {
    incrby: (key: string, by: number) =>
      Promise.resolve(store.set(key, (store.get(key) ?? 0) + by).get(key)!),
    incr: (key: string) => Promise.resolve(store.set(key, (store.get(key) ?? 0) + 1).get(key)!),
    // The LEASE script without the Redis clock: raise to ARGV[2] (here: the instance's highest id
    // only, as timeFloor is mocked to 0), then INCRBY ARGV[1].
    eval: (_script: string, _keys: number, key: string, size: string, minimum: string) => {
      store.set(key, Math.max(store.get(key) ?? 0, Number(minimum)) + Number(size));
      return Promise.resolve(store.get(key)!);
    },
  };
  const redis = {
    client,
    ready$,
    get ready() {
      return state.ready;
    },
    key: (name: string) => `t:${name}`,
  } as unknown as RedisService;
  return { redis, state, ready$, store };
}

const noFloor = () => 0;
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function take(source: LeasedIdSource, count: number): Promise<(number | undefined)[]> {
  const ids = [];
  for (let i = 0; i < count; i++) {
    ids.push(source.next());
    await settle();
  }
  return ids;
}

describe(LeasedIdSource.name, () => {
  it('gives no id before its first lease, then ids from leased blocks', async () => {
    const { redis } = fakeRedis();
    const source = new LeasedIdSource(redis, 10, noFloor);
    expect(source.next()).toBeUndefined();
    await settle();
    expect(await take(source, 12)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('keeps ids unique across instances sharing the counter', async () => {
    const { redis } = fakeRedis();
    const sources = [
      new LeasedIdSource(redis, 5, noFloor),
      new LeasedIdSource(redis, 5, noFloor),
      new LeasedIdSource(redis, 5, noFloor),
    ];
    sources.forEach((s) => s.lease());
    await settle();
    const ids: number[] = [];
    for (let i = 0; i < 60; i++) {
      const id = sources[i % 3].next();
      if (id !== undefined) ids.push(id);
      await settle();
    }
    expect(ids.length).toBe(60);
    expect(new Set(ids).size).toBe(60);
  });

  it('keeps handing out unique, increasing ids through an outage, and above them afterwards', async () => {
    const { redis, state, ready$ } = fakeRedis();
    const a = new LeasedIdSource(redis, 4, noFloor);
    const b = new LeasedIdSource(redis, 4, noFloor);
    a.lease();
    b.lease();
    await settle();
    const before = [...(await take(a, 3)), ...(await take(b, 3))] as number[];
    state.ready = false;
    const duringA = (await take(a, 20)) as number[];
    const duringB = (await take(b, 20)) as number[];
    expect([...duringA, ...duringB].every((id) => id !== undefined)).toBe(true);
    expect(new Set([...before, ...duringA, ...duringB]).size).toBe(46);
    for (const ids of [duringA, duringB])
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
    state.ready = true;
    ready$.next();
    await settle();
    await settle();
    const after = (await take(a, 5)) as number[];
    expect(Math.min(...after)).toBeGreaterThan(Math.max(...duringA, ...duringB));
  });

  it('raises a counter found below its highest id (Redis restarted empty), so no id repeats', async () => {
    const { redis, store } = fakeRedis();
    const source = new LeasedIdSource(redis, 10, noFloor);
    source.lease();
    await settle();
    const before = (await take(source, 25)) as number[];
    store.clear();
    const after = (await take(source, 40)) as number[];
    expect(after.every((id) => id !== undefined)).toBe(true);
    expect(new Set([...before, ...after]).size).toBe(65);
    const all = [...before, ...after];
    for (let i = 1; i < all.length; i++) expect(all[i]).toBeGreaterThan(all[i - 1]);
  });

  it('starts a fresh counter at the time floor', async () => {
    const { redis } = fakeRedis();
    const source = new LeasedIdSource(redis, 10, () => timeFloor(Date.UTC(2026, 10, 28)));
    source.lease();
    await settle();
    expect(source.next()).toBe(timeFloor(Date.UTC(2026, 10, 28)) + 1);
    expect(timeFloor(Date.UTC(2026, 10, 28))).toBe(331 * 86_400_000 * 1000);
  });
});

describe(BlockIdSource.name, () => {
  /** A shared counter as the NATS KV lessor keeps it: raised to `minimum`, then by `size`. */
  function counter(): { lessor: IdLessor; fail: { on: boolean } } {
    let value = 0;
    const fail = { on: false };
    const lessor: IdLessor = (size, minimum) => {
      if (fail.on) return Promise.reject(new Error('NATS down'));
      value = Math.max(value, minimum) + size;
      return Promise.resolve(value);
    };
    return { lessor, fail };
  }
  const flush = () => new Promise((resolve) => setImmediate(resolve));

  it('gives no id until its engine attaches a lessor, then ids from leased blocks', async () => {
    const ids = new BlockIdSource(10, () => 0);
    expect(ids.next()).toBeUndefined();
    expect(await ids.whenReady(20)).toBe(false);
    ids.attach(counter().lessor);
    expect(await ids.whenReady(1000)).toBe(true);
    const handed: (number | undefined)[] = [];
    for (let i = 0; i < 25; i++) {
      handed.push(ids.next());
      // The next block is leased while this one is used (the lease is asynchronous).
      await flush();
    }
    expect(handed).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('keeps ids unique and increasing across instances and restarts sharing the counter', async () => {
    const { lessor } = counter();
    const seen = new Set<number>();
    for (let round = 0; round < 3; round++) {
      // Two instances at once, then both "restarted" (new sources, the counter kept).
      const a = new BlockIdSource(7, () => 0);
      const b = new BlockIdSource(7, () => 0);
      a.attach(lessor);
      b.attach(lessor);
      for (const ids of [a, b]) {
        let last = 0;
        for (let i = 0; i < 40; i++) {
          await ids.whenReady(1000);
          const id = ids.next()!;
          expect(id).toBeGreaterThan(last);
          expect(seen.has(id)).toBe(false);
          seen.add(id);
          last = id;
          await flush();
        }
      }
    }
  });

  it('gives none while leases fail and the block is used up, and recovers when they work', async () => {
    const { lessor, fail } = counter();
    const ids = new BlockIdSource(5, () => 1000);
    ids.attach(lessor);
    await ids.whenReady(1000);
    fail.on = true;
    const handed: (number | undefined)[] = [];
    for (let i = 0; i < 12; i++) {
      handed.push(ids.next());
      await flush();
    }
    // The first block, then nothing: its reserve could not be leased.
    expect(handed).toEqual([1001, 1002, 1003, 1004, 1005, ...Array.from({ length: 7 }, () => undefined)]);
    fail.on = false;
    expect(await ids.whenReady(1000)).toBe(true);
    expect(ids.next()).toBeGreaterThan(1005);
  });
});
