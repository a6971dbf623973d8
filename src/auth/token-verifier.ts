// Verifies JWTs with jose against the one key source configured (JWKS, PEM public key or HS256
// secret), each with its own algorithm allowlist: `alg: none` never verifies, and an HS* token is
// never checked against a public key (the allowlist of a public key holds no HS*). The check runs in
// the verifier pool's threads (AUTH_VERIFY_THREADS), or on the event loop when that is 0.
import type { AppConfig } from '../config/env.js';
import { publicKeyAlgorithms } from '../config/schema.js';
import { RemoteKeySet } from './jwks.js';
import { validSubject } from './credentials.js';
import { VerifierPool, type PoolVerdict } from './verifier-pool.js';
import { type CheckOptions, type KeySource, createCheck } from './verify-worker.js';

/** Asymmetric algorithms a JWKS key may sign with (jose matches each to its key type). */
const JWKS_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
];
/** A longer string is no token of ours; refused before any parsing. */
const MAX_TOKEN_CHARS = 8192;
/** `kid` is stored beside every event (Redis field, NATS header): printable ASCII without spaces. */
const KID = /^[\x21-\x7e]{1,128}$/;
/**
 * Tokens verified already, by their exact text, until they expire: a device reconnecting with the
 * token it has (a network change, a takeover) costs a map lookup instead of a signature check.
 * A signature check costs more than the rest of an upgrade (bench scenario auth-connect). Bounded;
 * oldest out first.
 */
const VERIFIED_MAX = 10_000;

export interface Identity {
  sub: string;
  /** The key id the token named ('' when none). */
  kid: string;
  /** `exp`, seconds since the epoch. */
  exp: number;
  /** The token's `scope` (space-separated string or array), e.g. cbsa:monitor. */
  scopes: readonly string[];
}

/** `unavailable`: no verifier thread could answer (the upgrade gets 503). */
export type Verdict = Identity | 'invalid' | 'expired' | 'unavailable';

function scopesOf(scope: unknown): string[] {
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scope)) return scope.filter((s): s is string => typeof s === 'string');
  return [];
}

export class TokenVerifier {
  /** JWKS mode only. */
  readonly remote?: RemoteKeySet;
  private readonly verified = new Map<string, Identity>();
  private readonly toleranceMs: number;
  private readonly check: (token: string) => Promise<PoolVerdict>;
  private readonly setKeys: (jwks: Parameters<VerifierPool['setKeys']>[0]) => void;
  private readonly pool?: VerifierPool;

  private constructor(
    cfg: AppConfig,
    source: KeySource,
    onError: (err: Error) => void,
    remote?: (verifier: TokenVerifier) => RemoteKeySet,
  ) {
    this.toleranceMs = cfg.authClockToleranceS * 1000;
    const options: CheckOptions = {
      source,
      issuer: cfg.authJwtIssuer,
      audience: cfg.authJwtAudience,
      clockToleranceS: cfg.authClockToleranceS,
    };
    if (cfg.authVerifyThreads > 0) {
      const pool = new VerifierPool(cfg.authVerifyThreads, options, onError);
      this.pool = pool;
      this.check = (token) => pool.check(token);
      this.setKeys = (jwks) => pool.setKeys(jwks);
    } else {
      const local = createCheck(options);
      this.check = (token) => local.check(token);
      this.setKeys = (jwks) => local.setKeys(jwks);
    }
    this.remote = remote?.(this);
  }

  /** The verifier for the configured key source; undefined when JWT auth is off. */
  static create(
    cfg: AppConfig,
    events: Pick<ConstructorParameters<typeof RemoteKeySet>[0], 'onError'> & {
      /** A JWKS was fetched, with this many keys. */
      onLoaded: (keys: number) => void;
      /** A verifier thread failed. */
      onThreadError: (err: Error) => void;
    },
  ): TokenVerifier | undefined {
    if (cfg.authJwtSecret !== undefined) {
      return new TokenVerifier(
        cfg,
        { secret: cfg.authJwtSecret, algorithms: ['HS256'] },
        events.onThreadError,
      );
    }
    if (cfg.authJwtPublicKey !== undefined) {
      const algorithms = publicKeyAlgorithms(cfg.authJwtPublicKey)!;
      return new TokenVerifier(cfg, { spki: cfg.authJwtPublicKey, algorithms }, events.onThreadError);
    }
    if (cfg.authJwksUrl !== undefined) {
      return new TokenVerifier(
        cfg,
        { jwks: undefined, algorithms: JWKS_ALGORITHMS },
        events.onThreadError,
        (verifier) =>
          new RemoteKeySet({
            url: cfg.authJwksUrl!,
            timeoutMs: cfg.authJwksTimeoutMs,
            refetchMs: cfg.authJwksRefetchS * 1000,
            maxAgeMs: cfg.authJwksMaxAgeS * 1000,
            onError: events.onError,
            onLoaded: (jwks) => {
              verifier.setKeys(jwks);
              // A key may have left the set: tokens it signed are checked again.
              verifier.verified.clear();
              events.onLoaded(jwks.keys.length);
            },
          }),
      );
    }
    return undefined;
  }

  /** Whether tokens can be verified now (a JWKS with no keys fetched yet cannot). */
  get ready(): boolean {
    return this.remote === undefined || this.remote.ready;
  }

  /** Stops the JWKS refresh and the verifier threads. */
  async close(): Promise<void> {
    this.remote?.stop();
    await this.pool?.close();
  }

  /** The token's identity, or why it is refused. Never throws. */
  async verify(token: string): Promise<Verdict> {
    if (token.length > MAX_TOKEN_CHARS) return 'invalid';
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (Date.now() < known.exp * 1000 + this.toleranceMs) return known;
      this.verified.delete(token);
      return 'expired';
    }
    let verdict = await this.check(token);
    // An unknown `kid`: the JWKS is fetched again (at most once per AUTH_JWKS_REFETCH_S), then one retry.
    if (verdict === 'no-key' && this.remote !== undefined && (await this.remote.refetchForUnknownKid()))
      verdict = await this.check(token);
    if (verdict === 'no-key') return 'invalid';
    if (typeof verdict === 'string') return verdict;
    const { sub, kid } = verdict;
    if (!validSubject(sub) || (kid !== '' && !KID.test(kid))) return 'invalid';
    const identity: Identity = { sub, kid, exp: verdict.exp, scopes: scopesOf(verdict.scope) };
    this.verified.set(token, identity);
    if (this.verified.size > VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    return identity;
  }
}
