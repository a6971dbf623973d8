// Who may write which stream, decided in one place before any stream state is read. Static tokens
// (INGEST_TOKENS) say only "one of ours"; in JWT mode every connection carries a verified identity
// (`sub`, `kid`, `exp`), a resumable stream must be its subject's own, and every refusal is counted
// and shown to monitors. (MAX_CONNECTIONS_PER_SUBJECT is counted with the other connection caps, for
// the machine: access/connection-slots.ts; its refusals are counted here.)
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Subject } from 'rxjs';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { RefusalReason, RefusedClaim } from '../protocol/index.js';
import { owns, presentedToken } from './credentials.js';
import { type Identity, TokenVerifier, type Verdict } from './token-verifier.js';

export type { Identity } from './token-verifier.js';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'missing',
  'invalid',
  'expired',
  'wrong_stream',
  'too_many',
];
/** The scope a monitor's JWT must hold. */
export const MONITOR_SCOPE = 'cbsa:monitor';
/** Refused claims shown to monitors per second at most (the rest are only counted). */
const CLAIMS_PER_SECOND = 20;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares against every allowed token without an early exit, on fixed-length digests. */
function tokenMatches(candidate: string | undefined, allowed: readonly Buffer[]): boolean {
  const presented = digest(candidate ?? '');
  let match = false;
  for (const token of allowed) match = timingSafeEqual(presented, token) || match;
  return candidate !== undefined && match;
}

@Injectable()
export class AuthService implements OnModuleInit, OnModuleDestroy {
  /** JWT mode: AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET is set. */
  readonly jwt: boolean;
  private verifier?: TokenVerifier;
  private readonly ingestTokens: Buffer[];
  private readonly monitorTokens: Buffer[];
  private readonly refusals: Record<RefusalReason, number> = {
    missing: 0,
    invalid: 0,
    expired: 0,
    wrong_stream: 0,
    too_many: 0,
  };
  /** The subject of each stream's live connection on this process (JWT mode). */
  private readonly holders = new Map<string, string>();
  private readonly identities = new WeakMap<IncomingMessage, Identity>();
  private readonly claims = new Subject<RefusedClaim>();
  /** Refused stream claims, at most CLAIMS_PER_SECOND a second (the monitor's integrity panel). */
  readonly claims$ = this.claims.asObservable();
  private claimWindow = 0;
  private claimsInWindow = 0;
  private jwksFailing = false;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    logger.setContext(AuthService.name);
    this.jwt =
      cfg.authJwksUrl !== undefined || cfg.authJwtPublicKey !== undefined || cfg.authJwtSecret !== undefined;
    this.ingestTokens = cfg.ingestTokens.map(digest);
    this.monitorTokens = cfg.monitorToken === undefined ? [] : [digest(cfg.monitorToken)];
    metrics.counter(
      'cbsa_auth_refused_total',
      'Ingest upgrades (and token refreshes) refused, by reason: missing, invalid, expired, wrong_stream, too_many',
      () => ({ ...this.refusals }),
      'reason',
    );
  }

  onModuleInit(): void {
    this.verifier = TokenVerifier.create(this.cfg, {
      onError: (err) => {
        if (this.jwksFailing) return;
        this.jwksFailing = true;
        this.logger.warn({ err: err.message }, 'JWKS fetch failed; retrying');
      },
      onLoaded: (keys) => {
        if (this.jwksFailing || this.logger.logger.isLevelEnabled('debug'))
          this.logger.info({ keys }, 'JWKS loaded (%d keys)', keys);
        this.jwksFailing = false;
      },
      onThreadError: (err) => this.logger.error({ err: err.message }, 'JWT verifier thread failed'),
    });
    this.verifier?.remote?.start();
  }

  async onModuleDestroy(): Promise<void> {
    this.claims.complete();
    await this.verifier?.close();
  }

  /** False while a JWKS has no keys yet: /health/ready and upgrades answer 503. */
  get ready(): boolean {
    return this.verifier === undefined ? !this.jwt : this.verifier.ready;
  }

  /** Refusals since start, by reason (/health, metrics). */
  get refused(): Readonly<Record<RefusalReason, number>> {
    return this.refusals;
  }

  get refusedTotal(): number {
    return REFUSAL_REASONS.reduce((sum, r) => sum + this.refusals[r], 0);
  }

  /**
   * The synchronous part, on every upgrade and on the plain-GET probe: whether a token is there
   * at all (and, for static tokens, whether it is one of them). Undefined: let it on to admit().
   */
  precheck(request: IncomingMessage, monitor: boolean, stream: string | undefined): number | undefined {
    if (monitor) {
      if (this.monitorTokens.length === 0 && !this.jwt) return undefined;
      const { token } = presentedToken(request, true);
      if (token === undefined) return 401;
      if (!this.jwt && !tokenMatches(token, this.monitorTokens)) return 401;
      return undefined;
    }
    if (this.jwt) {
      const { token, queryRefused } = presentedToken(request, this.cfg.authAllowQueryToken);
      if (token === undefined)
        return this.refuse(queryRefused ? 'invalid' : 'missing', stream, undefined, 401);
      return undefined;
    }
    if (this.ingestTokens.length === 0) return undefined;
    const { token } = presentedToken(request, true);
    if (tokenMatches(token, this.ingestTokens)) return undefined;
    return this.refuse(token === undefined ? 'missing' : 'invalid', stream, undefined, 401);
  }

  /**
   * The asynchronous part (JWT mode): verify the token and check the stream is its subject's. Called
   * only after precheck() let the request through. Nothing here reads any stream state, so a
   * refused client learns nothing. The identity (undefined without JWT mode), or the status.
   */
  async admitIngest(
    request: IncomingMessage,
    stream: string | undefined,
  ): Promise<Identity | undefined | number> {
    if (!this.jwt) return undefined;
    if (this.verifier === undefined || !this.verifier.ready) return 503;
    const { token } = presentedToken(request, this.cfg.authAllowQueryToken);
    const verdict = await this.verifier.verify(token!);
    if (verdict === 'unavailable') return 503;
    if (typeof verdict === 'string') return this.refuse(verdict, stream, undefined, 401);
    const sub = verdict.sub;
    if (stream !== undefined) {
      const holder = this.holders.get(stream);
      // A stream another subject holds here is not taken over (only its own subject may).
      if (!owns(sub, stream) || (holder !== undefined && holder !== sub)) {
        return this.refuse('wrong_stream', stream, sub, 403);
      }
    }
    this.identities.set(request, verdict);
    return verdict;
  }

  /** The subject is over MAX_CONNECTIONS_PER_SUBJECT (decided by the connection slots): counted. */
  tooMany(stream: string | undefined, sub: string, status: number): number {
    return status === 429 ? this.refuse('too_many', stream, sub, status) : status;
  }

  /** Monitors: MONITOR_TOKEN, or in JWT mode a valid JWT whose scope holds cbsa:monitor. */
  async admitMonitor(request: IncomingMessage): Promise<number | undefined> {
    if (!this.jwt) return undefined;
    const { token } = presentedToken(request, true);
    if (token === undefined) return 401;
    if (this.monitorTokens.length > 0 && tokenMatches(token, this.monitorTokens)) return undefined;
    if (this.verifier === undefined || !this.verifier.ready) return 503;
    const verdict = await this.verifier.verify(token);
    if (verdict === 'unavailable') return 503;
    return typeof verdict !== 'string' && verdict.scopes.includes(MONITOR_SCOPE) ? undefined : 401;
  }

  /** The identity admitIngest() verified for this upgrade request (JWT mode), if any. */
  identityOf(request: IncomingMessage): Identity | undefined {
    return this.identities.get(request);
  }

  /**
   * A refresh on an open connection: the new identity when the token is valid and names the same
   * subject; otherwise undefined (counted as a refusal; the old expiry stands).
   */
  async refresh(token: string, current: Identity, stream: string | undefined): Promise<Identity | undefined> {
    const verdict: Verdict = this.verifier === undefined ? 'invalid' : await this.verifier.verify(token);
    // No verifier thread answered: not the token's fault, so not counted; the old expiry stands.
    if (verdict === 'unavailable') return undefined;
    if (typeof verdict === 'string') {
      this.refuse(verdict, stream, current.sub, 0);
      return undefined;
    }
    if (verdict.sub !== current.sub) {
      this.refuse('wrong_stream', stream, current.sub, 0);
      return undefined;
    }
    return verdict;
  }

  /** The gateway tells which subject holds a stream here, and when it lets go. */
  hold(stream: string, sub: string): void {
    this.holders.set(stream, sub);
  }

  letGo(stream: string, sub: string): void {
    if (this.holders.get(stream) === sub) this.holders.delete(stream);
  }

  private refuse(
    reason: RefusalReason,
    stream: string | undefined,
    sub: string | undefined,
    status: number,
  ): number {
    this.refusals[reason]++;
    if (stream !== undefined && this.claims.observed) {
      const now = Date.now();
      const second = Math.floor(now / 1000);
      if (second !== this.claimWindow) {
        this.claimWindow = second;
        this.claimsInWindow = 0;
      }
      if (++this.claimsInWindow <= CLAIMS_PER_SECOND) {
        this.claims.next({ stream, sub: sub ?? null, reason, at: now / 1000 });
      }
    }
    return status;
  }
}
