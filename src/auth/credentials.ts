// Where an upgrade request carries its token, and who may write which stream: pure functions.
import type { IncomingMessage } from 'node:http';
import { BEARER_SUBPROTOCOL_PREFIX, STREAM_ID, SUBPROTOCOL } from '../protocol/index.js';

export interface Presented {
  /** The token, or undefined when none was presented where this endpoint looks. */
  token: string | undefined;
  /** Only `?token=` held one, and it was not looked at (JWT mode without AUTH_ALLOW_QUERY_TOKEN). */
  queryRefused: boolean;
}

/** The subprotocols a request offers, in order (`Sec-WebSocket-Protocol`, comma-separated). */
export function offeredProtocols(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/**
 * The token a request presents: `Authorization: Bearer`, else the subprotocol `cbsa.bearer.<token>`,
 * else (when `query` allows it) `?token=`.
 */
export function presentedToken(request: IncomingMessage, query: boolean): Presented {
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (bearer) return { token: bearer[1], queryRefused: false };
  }
  for (const protocol of offeredProtocols(request)) {
    if (
      protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX) &&
      protocol.length > BEARER_SUBPROTOCOL_PREFIX.length
    ) {
      return { token: protocol.slice(BEARER_SUBPROTOCOL_PREFIX.length), queryRefused: false };
    }
  }
  let fromQuery: string | undefined;
  try {
    fromQuery = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined;
  } catch {
    fromQuery = undefined;
  }
  if (fromQuery !== undefined && !query) return { token: undefined, queryRefused: true };
  return { token: fromQuery, queryRefused: false };
}

/**
 * The subprotocol the server selects: `cbsa.v1` when offered, else the first offered that carries no
 * token (what ws picks by default), else none. A bearer subprotocol is never selected: the answer
 * would echo the token.
 */
export function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(SUBPROTOCOL)) return SUBPROTOCOL;
  for (const protocol of protocols) if (!protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX)) return protocol;
  return false;
}

/** A bearer subprotocol offered without `cbsa.v1`: the server could select nothing the client accepts. */
export function bearerWithoutVersion(request: IncomingMessage): boolean {
  const offered = offeredProtocols(request);
  return offered.some((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX)) && !offered.includes(SUBPROTOCOL);
}

/** A token's `sub` names a device (or user): 1-200 characters of the stream-id alphabet. */
export function validSubject(sub: unknown): sub is string {
  return typeof sub === 'string' && STREAM_ID.test(sub);
}

/** A stream belongs to `sub` when it is `sub` itself or starts with `sub:`. */
export function owns(sub: string, stream: string): boolean {
  return (
    stream === sub || (stream.length > sub.length && stream.startsWith(sub) && stream[sub.length] === ':')
  );
}
