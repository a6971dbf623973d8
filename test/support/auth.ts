// JWT mode in tests: keys and tokens signed with jose (ES256, EdDSA, HS256), a JWKS served on
// 127.0.0.1 whose key can rotate, and the HTTP answer to a refused upgrade.
import {
  type CryptoKey,
  type JWK,
  type JWTPayload,
  SignJWT,
  exportJWK,
  exportSPKI,
  generateKeyPair,
} from 'jose';
import { type Server, createServer } from 'node:http';
import WebSocket from 'ws';
import { freePort } from '../../harness/process.mjs';

export const ISSUER = 'https://id.cbsa.test';
export const AUDIENCE = 'cbsa-ingest';
export const HS_SECRET = 'a-test-secret-of-at-least-32-bytes!!';

export interface SigningKey {
  alg: 'ES256' | 'EdDSA' | 'HS256';
  kid: string;
  privateKey: CryptoKey | Uint8Array;
  /** PEM (SPKI) of the public half; undefined for HS256. */
  publicPem?: string;
  publicJwk?: JWK;
}

export async function signingKey(
  alg: 'ES256' | 'EdDSA',
  kid = `${alg.toLowerCase()}-1`,
): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicPem: await exportSPKI(publicKey), publicJwk };
}

export function hsKey(secret = HS_SECRET, kid = 'hs-1'): SigningKey {
  return { alg: 'HS256', kid, privateKey: new TextEncoder().encode(secret) };
}

export interface TokenOptions {
  sub?: string | undefined;
  iss?: string;
  aud?: string;
  /** Seconds from now (negative: already expired). */
  expiresIn?: number;
  /** Seconds from now before which the token is not valid. */
  notBefore?: number;
  scope?: string;
  kid?: string | null;
  extra?: JWTPayload;
}

/** A token signed by `key` with the service's iss and aud unless told otherwise. */
export async function mint(key: SigningKey, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { ...options.extra };
  if (options.scope !== undefined) payload.scope = options.scope;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({
      alg: key.alg,
      typ: 'JWT',
      ...(options.kid === null ? {} : { kid: options.kid ?? key.kid }),
    })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 300));
  if (!('sub' in options) || options.sub !== undefined) jwt.setSubject(options.sub ?? 'device-1');
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key.privateKey);
}

/** The env of JWT mode with this key (public key or secret), the test issuer and audience. */
export function jwtEnv(key: SigningKey, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(key.alg === 'HS256'
      ? { AUTH_JWT_SECRET: new TextDecoder().decode(key.privateKey as Uint8Array) }
      : { AUTH_JWT_PUBLIC_KEY: key.publicPem! }),
    AUTH_JWT_ISSUER: ISSUER,
    AUTH_JWT_AUDIENCE: AUDIENCE,
    ...extra,
  };
}

export const bearer = (token: string): { headers: Record<string, string> } => ({
  headers: { Authorization: `Bearer ${token}` },
});

export interface Refusal {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Opens an upgrade that must be refused: its HTTP status, body and headers. */
export function refusedUpgrade(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, options);
    socket.on('open', () => {
      socket.close();
      reject(new Error(`upgrade to ${url} was accepted`));
    });
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    socket.on('error', () => undefined);
  });
}

/** A JWKS on 127.0.0.1: it serves the keys given, can be down (connection refused), and counts fetches. */
export class JwksServer {
  private server?: Server;
  keys: JWK[] = [];
  fetches = 0;

  private constructor(readonly port: number) {}

  static async reserve(): Promise<JwksServer> {
    return new JwksServer(await freePort());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }

  async up(): Promise<void> {
    this.server = createServer((req, res) => {
      this.fetches++;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
