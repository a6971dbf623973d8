// Verifies JWTs with jose against the one key source configured (JWKS, PEM public key or HS256
// secret), each with its own algorithm allowlist: `alg: none` never verifies, and an HS* token is
// never checked against a public key (the allowlist of a public key holds no HS*).
import {
  type CryptoKey,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  errors,
  importSPKI,
  jwtVerify,
} from 'jose';
import type { KeyObject } from 'node:crypto';
import type { AppConfig } from '../config/env.js';
import { publicKeyAlgorithms } from '../config/schema.js';
import { RemoteKeySet } from './jwks.js';
import { validSubject } from './credentials.js';

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
 * jose verifies through WebCrypto, about 0.4 ms of the main thread per ES256 token under load
 * (bench scenario auth-connect), more than the rest of an upgrade. Bounded; oldest out first.
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

export type Verdict = Identity | 'invalid' | 'expired';

type Key = Uint8Array | CryptoKey | KeyObject | JWTVerifyGetKey;

function scopesOf(scope: unknown): string[] {
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scope)) return scope.filter((s): s is string => typeof s === 'string');
  return [];
}

export class TokenVerifier {
  private readonly key: Key;
  private readonly options: JWTVerifyOptions;
  /** JWKS mode only. */
  readonly remote?: RemoteKeySet;
  private readonly verified = new Map<string, Identity>();
  private readonly toleranceMs: number;

  private constructor(cfg: AppConfig, algorithms: string[], key: Key, remote?: RemoteKeySet) {
    this.key = key;
    this.remote = remote;
    this.toleranceMs = cfg.authClockToleranceS * 1000;
    this.options = {
      issuer: cfg.authJwtIssuer,
      audience: cfg.authJwtAudience,
      clockTolerance: cfg.authClockToleranceS,
      algorithms,
      requiredClaims: ['sub', 'exp'],
    };
  }

  /** The verifier for the configured key source; undefined when JWT auth is off. */
  static async create(
    cfg: AppConfig,
    jwksEvents: Pick<ConstructorParameters<typeof RemoteKeySet>[0], 'onError' | 'onLoaded'>,
  ): Promise<TokenVerifier | undefined> {
    if (cfg.authJwtSecret !== undefined) {
      return new TokenVerifier(cfg, ['HS256'], new TextEncoder().encode(cfg.authJwtSecret));
    }
    if (cfg.authJwtPublicKey !== undefined) {
      const algorithms = publicKeyAlgorithms(cfg.authJwtPublicKey)!;
      return new TokenVerifier(cfg, algorithms, await importSPKI(cfg.authJwtPublicKey, algorithms[0]));
    }
    if (cfg.authJwksUrl !== undefined) {
      const remote = new RemoteKeySet({
        url: cfg.authJwksUrl,
        timeoutMs: cfg.authJwksTimeoutMs,
        refetchMs: cfg.authJwksRefetchS * 1000,
        maxAgeMs: cfg.authJwksMaxAgeS * 1000,
        onError: jwksEvents.onError,
        onLoaded: (keys) => {
          // A key may have left the set: tokens it signed are checked again.
          verifier.verified.clear();
          jwksEvents.onLoaded(keys);
        },
      });
      const verifier = new TokenVerifier(cfg, JWKS_ALGORITHMS, remote.resolve, remote);
      return verifier;
    }
    return undefined;
  }

  /** Whether tokens can be verified now (a JWKS with no keys fetched yet cannot). */
  get ready(): boolean {
    return this.remote === undefined || this.remote.ready;
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
    try {
      const key = this.key;
      const { payload, protectedHeader } =
        typeof key === 'function'
          ? await jwtVerify(token, key, this.options)
          : await jwtVerify(token, key, this.options);
      const kid = protectedHeader.kid ?? '';
      if (!validSubject(payload.sub) || (kid !== '' && !KID.test(kid))) return 'invalid';
      const identity: Identity = {
        sub: payload.sub,
        kid,
        exp: payload.exp!,
        scopes: scopesOf(payload.scope),
      };
      this.verified.set(token, identity);
      if (this.verified.size > VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
      return identity;
    } catch (err) {
      return err instanceof errors.JWTExpired ? 'expired' : 'invalid';
    }
  }
}
