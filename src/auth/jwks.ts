// A JSON Web Key Set fetched over HTTP(S) for JWT mode: fetched with a timeout, cached, fetched again
// in the background when it is older than AUTH_JWKS_MAX_AGE_S, and on a token with an unknown `kid`
// at most once per AUTH_JWKS_REFETCH_S (counted from the last attempt, not the last success, so a
// flood of made-up kids costs one fetch per interval however the issuer answers). Until the first
// fetch succeeds there are no keys: upgrades get 503 and /health/ready is 503. Key selection and
// import are jose's (createLocalJWKSet).
import {
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type FlattenedJWSInput,
  createLocalJWKSet,
  errors,
} from 'jose';

type LocalSet = ReturnType<typeof createLocalJWKSet>;
export type KeyResolver = (header: JWTHeaderParameters, token: FlattenedJWSInput) => ReturnType<LocalSet>;

/** While no keys were ever fetched, the next attempt is this long after a failed one. */
const FIRST_FETCH_RETRY_MS = 1000;

export interface JwksOptions {
  url: string;
  timeoutMs: number;
  refetchMs: number;
  maxAgeMs: number;
  /** Told of every failed fetch (the first of an outage, and whenever keys are missing). */
  onError: (err: Error) => void;
  onLoaded: (keys: number) => void;
}

export class RemoteKeySet {
  private local?: LocalSet;
  private fetchedAt = 0;
  private attemptedAt = 0;
  private pending?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: JwksOptions) {}

  /** Whether a key set was ever loaded (tokens can be verified). */
  get ready(): boolean {
    return this.local !== undefined;
  }

  /** Starts fetching; retries every second until the first success, then refreshes at max age. */
  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** jose's key lookup, with one refetch on an unknown `kid` when the last attempt is old enough. */
  readonly resolve: KeyResolver = async (header, token) => {
    const local = this.local;
    if (local === undefined) throw new errors.JWKSNoMatchingKey('no keys loaded yet');
    try {
      return await local(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      if (Date.now() - this.attemptedAt < this.options.refetchMs) throw err;
      await this.fetch();
      return this.local!(header, token);
    }
  };

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    await this.fetch();
    if (this.stopped) return;
    const wait = this.local === undefined ? FIRST_FETCH_RETRY_MS : this.options.maxAgeMs;
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
      this.local = createLocalJWKSet(jwks);
      this.fetchedAt = Date.now();
      this.options.onLoaded(jwks.keys.length);
    } catch (err) {
      this.options.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** When the keys in use were fetched (ms since the epoch; 0: never). */
  get loadedAt(): number {
    return this.fetchedAt;
  }
}
