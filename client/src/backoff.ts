// How long to wait before the next connection attempt: exponential with full jitter, so that
// 100,000 phones that lost the service together do not come back in lockstep, and never longer than
// half the time already spent offline (at least `min × 2`), so a short outage ends within about a
// second of the service's return.

export class Backoff {
  private attempt = 0;
  private failingSince?: number;

  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The delay before the next attempt, in ms. */
  next(): number {
    const now = this.now();
    this.failingSince ??= now;
    const exponential = this.min * 2 ** this.attempt++;
    const sinceFailing = Math.max(this.min * 2, (now - this.failingSince) / 2);
    return Math.random() * Math.min(this.max, exponential, sinceFailing);
  }

  /** After a success: the next failure starts from `min` again. */
  reset(): void {
    this.attempt = 0;
    this.failingSince = undefined;
  }
}
