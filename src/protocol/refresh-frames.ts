// JWT mode: the control frame a client sends to replace its connection's token before it expires,
// and the server's answer. Not an event: no seq, not counted, not stored.

/** Client to server. */
export interface RefreshRequest {
  type: 'refresh';
  token: string;
}

/** Server to client: the new token is in force until `exp` (unix seconds). */
export interface RefreshedReply {
  type: 'refreshed';
  exp: number;
}

/** The error a refused refresh gets; the old expiry stands. */
export const INVALID_TOKEN = 'Invalid token';
