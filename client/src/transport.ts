// Opening the socket. The stream id goes in the URL; a token never does: Node and React Native send
// it as `Authorization: Bearer`, browsers (which cannot set headers on a WebSocket) as the subprotocol
// `cbsa.bearer.<token>` offered beside `cbsa.v1`.
import type { BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from '../../src/protocol/auth-frames.js';

// Checked against the service's own constants: a change there fails the type check here.
const V1: typeof SUBPROTOCOL = 'cbsa.v1';
const BEARER: typeof BEARER_SUBPROTOCOL_PREFIX = 'cbsa.bearer.';

/** The part of a WebSocket (browser, React Native, undici, `ws`) the client uses. */
export interface Socket {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

/**
 * A WebSocket constructor. Passed one (e.g. `ws`'s), the client calls it as `ws` and React Native
 * take it: `(url, protocols, { headers })`.
 */
export type WebSocketConstructor = new (url: string, protocols?: string[], options?: object) => unknown;

type Runtime = 'browser' | 'node' | 'react-native';

interface Globals {
  WebSocket?: WebSocketConstructor;
  navigator?: { product?: string };
  process?: { versions?: { node?: string } };
  fetch?: (url: string, init: { headers: Record<string, string> }) => Promise<{ status: number }>;
}

const globals = globalThis as Globals;

function runtime(): Runtime {
  if (globals.navigator?.product === 'ReactNative') return 'react-native';
  return globals.process?.versions?.node ? 'node' : 'browser';
}

export function hasWebSocket(given?: WebSocketConstructor): boolean {
  return !!(given ?? globals.WebSocket);
}

export function streamUrl(url: string, stream: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}stream=${encodeURIComponent(stream)}`;
}

export function openSocket(url: string, token: string | undefined, given?: WebSocketConstructor): Socket {
  const headers = token ? { headers: { authorization: `Bearer ${token}` } } : undefined;
  if (given) return new given(url, undefined, headers) as Socket;
  const Native = globals.WebSocket!;
  switch (runtime()) {
    case 'node': // undici: (url, { protocols, headers })
      return new Native(url, headers as unknown as string[]) as Socket;
    case 'react-native':
      return new Native(url, undefined, headers) as Socket;
    default:
      // Offered only with a token: a browser fails a handshake that offers one the server does not pick.
      return new Native(url, token ? [V1, BEARER + token] : undefined) as Socket;
  }
}

/**
 * A refused upgrade: `ws` and React Native name the HTTP status in the error; browsers and undici do
 * not, so ask with a plain GET on the same URL (the service answers what an upgrade would get). Bounded
 * by `timeout`, and the bound is cleared once the probe answers, or it would keep a Node process alive.
 */
export async function refusedAs401(
  failure: string,
  url: string,
  token: string | undefined,
  timeout: number,
): Promise<boolean> {
  if (/\b401\b/.test(failure)) return true;
  if (/\b[1-5]\d\d\b/.test(failure) || !globals.fetch) return false;
  let bound: ReturnType<typeof setTimeout>;
  const late = new Promise<boolean>((resolve) => (bound = setTimeout(() => resolve(false), timeout)));
  const probe = globals
    .fetch(url.replace(/^ws/, 'http'), { headers: token ? { authorization: `Bearer ${token}` } : {} })
    .then(
      (res) => res.status === 401,
      () => false,
    );
  return Promise.race([probe, late]).finally(() => clearTimeout(bound));
}

/** The claims of a JWT (not verified: the client only plans with them), or undefined for any other token. */
export function tokenClaims(token: string | undefined): { exp?: unknown; sub?: unknown } | undefined {
  const payload = token?.split('.')[1];
  const decode = (globalThis as { atob?: (text: string) => string }).atob;
  if (!payload || !decode) return undefined;
  try {
    return JSON.parse(decode(payload.replace(/-/g, '+').replace(/_/g, '/'))) as {
      exp?: unknown;
      sub?: unknown;
    };
  } catch {
    return undefined;
  }
}

/** The `exp` claim (unix seconds) of a JWT. */
export function tokenExpiry(token: string | undefined): number | undefined {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === 'number' ? exp : undefined;
}
