// Authentication on the wire (JWT mode): the subprotocols a browser offers to carry its token, the
// refresh control frame a client sends before its token expires, and the server's answers to it.
import { type ErrorFrame, INVALID_TOKEN } from './ingest-frames.js';

/** The protocol version a client offers as a subprotocol; the server selects it. */
export const SUBPROTOCOL = 'cbsa.v1';
/** `cbsa.bearer.<jwt>`, offered beside `cbsa.v1`: the token without a header (browsers). Never selected. */
export const BEARER_SUBPROTOCOL_PREFIX = 'cbsa.bearer.';

/**
 * Client → server on the ingest socket: replaces the connection's token before it expires. Not an
 * event: it needs no `seq`, is not counted and not stored. The token must be valid and name the
 * same `sub` as the one it replaces.
 */
export interface RefreshRequest {
  type: 'refresh';
  token: string;
}

/** Server → client: the refresh was taken; the connection now closes (4003) after `exp`. */
export interface RefreshedReply {
  type: 'refreshed';
  /** The new token's `exp`, in seconds since the epoch. */
  exp: number;
}

/** Server → client: the refresh was refused (invalid, expired, other `sub`); the old expiry stands. */
export interface InvalidTokenFrame extends ErrorFrame {
  status: 'error';
  message: typeof INVALID_TOKEN;
}

/** Every reply to a RefreshRequest, in frame order with the other replies. */
export type RefreshReply = RefreshedReply | InvalidTokenFrame;

export const INVALID_TOKEN_REPLY = '{"status":"error","message":"' + INVALID_TOKEN + '"}';

export function refreshedReply(exp: number): string {
  return '{"type":"refreshed","exp":' + exp + '}';
}

/** The token of a RefreshRequest, or undefined when `value` is not one. */
export function refreshToken(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const frame = value as Partial<Record<keyof RefreshRequest, unknown>>;
  if (frame.type !== 'refresh') return undefined;
  return typeof frame.token === 'string' ? frame.token : '';
}
