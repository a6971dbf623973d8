// The JWT check itself, with jose: signature against the configured key (its algorithms pinned),
// then `iss`, `aud`, `exp`, `nbf`. It runs in the verifier pool's worker threads (verifier-pool.ts),
// off the event loop that serves frames; with AUTH_VERIFY_THREADS=0 the event loop calls it directly.
// Erasable TypeScript that imports only jose and node:, so Node can run this file as it is.
import { createPublicKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  createLocalJWKSet,
  errors,
  jwtVerify,
} from 'jose';

/** One key source, with the algorithms it may sign with. */
export type KeySource =
  | { secret: string; algorithms: string[] }
  | { spki: string; algorithms: string[] }
  | { jwks: JSONWebKeySet | undefined; algorithms: string[] };

export interface CheckOptions {
  source: KeySource;
  issuer: string | undefined;
  audience: string | undefined;
  clockToleranceS: number;
}

/** A verified token's claims as the service reads them. */
export interface Claims {
  sub: unknown;
  kid: string;
  exp: number;
  scope: unknown;
}

/** `no-key`: a JWKS holds no key for the token's `kid` (the caller may fetch the set again). */
export type CheckVerdict = Claims | 'invalid' | 'expired' | 'no-key';

/**
 * Messages of the pool, batched: every token asked for in one turn of the event loop goes in one
 * message (a message costs a wake-up of the other thread), and the answers come back the same way.
 */
export type ToWorker = { tokens: [id: number, token: string][] } | { jwks: JSONWebKeySet };
export type FromWorker = [id: number, verdict: CheckVerdict][];

export interface Check {
  check(token: string): Promise<CheckVerdict>;
  /** A newly fetched JWKS (JWKS mode). */
  setKeys(jwks: JSONWebKeySet): void;
}

export function createCheck({ source, issuer, audience, clockToleranceS }: CheckOptions): Check {
  const options: JWTVerifyOptions = {
    issuer,
    audience,
    clockTolerance: clockToleranceS,
    algorithms: source.algorithms,
    requiredClaims: ['sub', 'exp'],
  };
  // A node:crypto KeyObject, not a WebCrypto key: jose verifies with it at less cost.
  const fixed: Uint8Array | ReturnType<typeof createPublicKey> | undefined =
    'secret' in source
      ? new TextEncoder().encode(source.secret)
      : 'spki' in source
        ? createPublicKey(source.spki)
        : undefined;
  let keySet: JWTVerifyGetKey | undefined =
    'jwks' in source && source.jwks !== undefined ? createLocalJWKSet(source.jwks) : undefined;
  return {
    async check(token) {
      try {
        let result;
        if (fixed !== undefined) result = await jwtVerify(token, fixed, options);
        else if (keySet !== undefined) result = await jwtVerify(token, keySet, options);
        else return 'no-key';
        const { payload, protectedHeader } = result;
        return { sub: payload.sub, kid: protectedHeader.kid ?? '', exp: payload.exp!, scope: payload.scope };
      } catch (err) {
        if (err instanceof errors.JWTExpired) return 'expired';
        if (err instanceof errors.JWKSNoMatchingKey) return 'no-key';
        return 'invalid';
      }
    },
    setKeys(jwks) {
      keySet = createLocalJWKSet(jwks);
    },
  };
}

// In a worker thread of the pool: answer every message, the answers of one turn in one message.
const port = parentPort;
if (port !== null && (workerData as { cbsaVerifier?: CheckOptions } | undefined)?.cbsaVerifier) {
  const checker = createCheck((workerData as { cbsaVerifier: CheckOptions }).cbsaVerifier);
  let answers: FromWorker = [];
  const flush = () => {
    port.postMessage(answers);
    answers = [];
  };
  port.on('message', (message: ToWorker) => {
    if ('jwks' in message) return checker.setKeys(message.jwks);
    for (const [id, token] of message.tokens) {
      void checker.check(token).then((verdict) => {
        if (answers.push([id, verdict]) === 1) setImmediate(flush);
      });
    }
  });
}
