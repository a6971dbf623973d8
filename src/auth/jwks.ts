// A JSON Web Key Set fetched over HTTP(S) for JWT mode: fetched with a timeout, cached, fetched again
// in the background when it is older than AUTH_JWKS_MAX_AGE_S, and on a token with an unknown `kid`
// at most once per AUTH_JWKS_REFETCH_S (counted from the last attempt, not the last success, so a
// flood of made-up kids costs one fetch per interval however the issuer answers). Until the first
// fetch succeeds there are no keys: upgrades get 503 and /health/ready is 503. Each set fetched goes
// to the verifier (key selection and import are jose's, createLocalJWKSet, in verify-worker.ts).
import { type JSONWebKeySet, createLocalJWKSet } from 'jose';

/** While no keys were ever fetched, the next attempt is this long after a failed one. */
const FIRST_FETCH_RETRY_MS = 1000;

export interface JwksOptions {
  url: string;
  timeoutMs: number;
  refetchMs: number;
  maxAgeMs: number;
  /** Told of every failed fetch (the first of an outage, and whenever keys are missing). */
  onError: (err: Error) => void;
  /** Told of every set fetched. */
  onLoaded: (jwks: JSONWebKeySet) => void;
}

export class RemoteKeySet {
  private loaded = false;
  private fetchedAt = 0;
  private attemptedAt = 0;
  private pending?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: JwksOptions) {}

  /** Whether a key set was ever loaded (tokens can be verified). */
  get ready(): boolean {
    return this.loaded;
  }

  /** Starts fetching; retries every second until the first success, then refreshes at max age. */
  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * A token named a `kid` the set does not hold: fetches the set again, unless the last attempt was
   * under AUTH_JWKS_REFETCH_S ago. Whether it fetched (the token is then worth checking again).
   */
  async refetchForUnknownKid(): Promise<boolean> {
    if (!this.loaded || Date.now() - this.attemptedAt < this.options.refetchMs) return false;
    await this.fetch();
    return true;
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    await this.fetch();
    if (this.stopped) return;
    const wait = !this.loaded ? FIRST_FETCH_RETRY_MS : this.options.maxAgeMs;
    this.timer = setTimeout(() => void this.refresh(), wait);
    this.timer.unref();
  }

  /** One fetch at a time; a failure keeps the keys already loaded. Never rejects. */
  private fetch(): Promise<void> {
    this.pending ??= this.load().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async load(): Promise<void> {
    this.attemptedAt = Date.now();
    try {
      const response = await fetch(this.options.url, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'manual',
        headers: { accept: 'application/json, application/jwk-set+json' },
      });
      if (response.status !== 200) throw new Error(`JWKS answered HTTP ${response.status}`);
      const jwks = (await response.json()) as JSONWebKeySet;
      // createLocalJWKSet checks the shape (throws on anything but {keys: [...]}).
      createLocalJWKSet(jwks);
      this.loaded = true;
      this.fetchedAt = Date.now();
      this.options.onLoaded(jwks);
    } catch (err) {
      this.options.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** When the keys in use were fetched (ms since the epoch; 0: never). */
  get loadedAt(): number {
    return this.fetchedAt;
  }
}
