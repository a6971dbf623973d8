import { RateLimiter } from './rate-limiter.js';

describe(RateLimiter.name, () => {
  it('allows a burst, then refills at the rate', () => {
    const limiter = new RateLimiter(10, 5, 10_000, 0);
    expect(Array.from({ length: 6 }, () => limiter.take(0))).toEqual([
      'allow',
      'allow',
      'allow',
      'allow',
      'allow',
      'reject',
    ]);
    expect(limiter.take(100)).toBe('allow');
    expect(limiter.take(100)).toBe('reject');
  });

  it('closes a connection still over the limit after the grace period', () => {
    const limiter = new RateLimiter(10, 1, 10_000, 0);
    const verdicts = new Map<number, string>();
    for (let t = 0; t <= 10_500; t += 50) verdicts.set(t, limiter.take(t));
    const closedAt = [...verdicts].filter(([, v]) => v === 'close').map(([t]) => t);
    expect(closedAt.length).toBeGreaterThan(0);
    expect(Math.min(...closedAt)).toBeGreaterThanOrEqual(10_000);
  });

  it('forgives a connection that backed off below the rate', () => {
    const limiter = new RateLimiter(10, 1, 10_000, 0);
    limiter.take(0);
    expect(limiter.take(0)).toBe('reject');
    for (let t = 2000; t <= 12_000; t += 200) expect(limiter.take(t)).toBe('allow');
    expect(limiter.take(12_000)).toBe('reject');
  });
});
