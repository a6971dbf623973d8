// Token bucket per ingest connection (RATE_LIMIT_PER_CONNECTION frames/s, RATE_LIMIT_BURST deep).

export type Verdict = 'allow' | 'reject' | 'close';

/** A rejection this recent keeps the connection's over-limit episode going. */
const EPISODE_GAP_MS = 1000;

export class RateLimiter {
  private tokens: number;
  private last: number;
  private overSince = -1;
  private lastRejected = -1;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly closeAfterMs: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): Verdict {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'allow';
    }
    if (this.overSince < 0 || now - this.lastRejected > EPISODE_GAP_MS) this.overSince = now;
    this.lastRejected = now;
    return now - this.overSince >= this.closeAfterMs ? 'close' : 'reject';
  }
}
