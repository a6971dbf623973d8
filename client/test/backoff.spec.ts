// The reconnect delay: exponential with full jitter, capped by maxDelay and by half the time spent
// failing (at least 2 × minDelay), reset by a success.
import { jest } from '@jest/globals';
import { Backoff } from '../src/backoff.js';

describe(Backoff.name, () => {
  afterEach(() => jest.restoreAllMocks());

  /** The ceilings of successive delays (Math.random at its top), `stepMs` apart on a fake clock. */
  function ceilings(
    backoff: Backoff,
    clock: { now: number },
    count: number,
    stepMs: (delay: number) => number,
  ) {
    jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    return Array.from({ length: count }, () => {
      const delay = backoff.next();
      clock.now += stepMs(delay);
      return Math.round(delay);
    });
  }

  it('doubles from minDelay up to maxDelay over a long outage', () => {
    const clock = { now: 0 };
    const backoff = new Backoff(500, 30_000, () => clock.now);
    // Each wait taken in full: the time spent failing grows with it.
    expect(ceilings(backoff, clock, 9, (d) => d + 10_000)).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('never waits longer than half the time already offline (at least 2 × minDelay): a short outage ends fast', () => {
    const clock = { now: 0 };
    const backoff = new Backoff(500, 30_000, () => clock.now);
    // Attempts fail at once; after 2 s offline the next wait is at most 1 s.
    expect(ceilings(backoff, clock, 5, (d) => d)).toEqual([500, 1000, 1000, 1250, 1875]);
  });

  it('is a random fraction of the ceiling (full jitter), and starts over after a success', () => {
    const clock = { now: 0 };
    const backoff = new Backoff(100, 1000, () => clock.now);
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.25);
    expect(backoff.next()).toBe(25);
    random.mockReturnValue(0.5);
    clock.now = 10_000;
    expect(backoff.next()).toBe(100);
    backoff.reset();
    expect(backoff.next()).toBe(50);
    random.mockRestore();
    const spread = new Set(Array.from({ length: 20 }, () => new Backoff(100, 1000).next()));
    expect(spread.size).toBe(20);
  });
});
