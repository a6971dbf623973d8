// Per ingest connection state shared by the gateway, the frame pipeline and its ack queue.
import { WebSocket } from 'ws';
import type { Identity } from '../auth/token-verifier.js';

export interface Conn {
  socket: WebSocket;
  clientId: string;
  /** The stream id (resumable connections only). */
  stream: string | undefined;
  /**
   * After a frame of this stream was refused (rate limit, Service unavailable): its seq. Later frames
   * with a higher seq are refused the same way until the client resends this seq or a lower one, so
   * no later seq can overtake a refused one into the log. 0: nothing refused.
   */
  refusedSeq: number;
  refusedReply: string;
  /** Replies waiting in the ack queue. */
  pending: number;
  /** Called once `pending` drops to 0 (a close waiting for the pending acks). */
  onSettled: (() => void) | undefined;
  /** The server is closing it: later frames get no reply and are not stored. */
  closing: boolean;
  /** When it opened (ms): across instances, only an older connection of a stream is taken over. */
  openedAt: number;
  /** Provenance stored with every event: the token's `sub` and `kid` (JWT mode; '' otherwise). */
  sub: string;
  kid: string;
  /** JWT mode: the identity in force (a refresh replaces it) and the timer that closes it with 4003. */
  identity: Identity | undefined;
  expiry: NodeJS.Timeout | undefined;
}

export function newConn(
  socket: WebSocket,
  clientId: string,
  stream: string | undefined,
  identity?: Identity,
): Conn {
  return {
    socket,
    clientId,
    stream,
    refusedSeq: 0,
    refusedReply: '',
    pending: 0,
    onSettled: undefined,
    closing: false,
    openedAt: Date.now(),
    sub: identity?.sub ?? '',
    kid: identity?.kid ?? '',
    identity,
    expiry: undefined,
  };
}

/**
 * Refusal bookkeeping (see Conn.refusedSeq). Returns the refusal to send for a frame of `seq`, or
 * undefined when the frame may proceed (a resend at or below the refused seq lifts the block).
 */
export function blockedReply(conn: Conn, seq: number): string | undefined {
  if (conn.refusedSeq === 0) return undefined;
  if (seq > conn.refusedSeq) return conn.refusedReply;
  conn.refusedSeq = 0;
  return undefined;
}

/**
 * Records a refusal of `seq`, keeping the lowest refused seq: with batches in flight, the failure of
 * an earlier batch is learnt after later frames were refused, and the client must resend from the
 * lowest.
 */
export function refuse(conn: Conn, seq: number, reply: string): void {
  if (conn.refusedSeq === 0 || seq < conn.refusedSeq) {
    conn.refusedSeq = seq;
    conn.refusedReply = reply;
  }
}

/** Resolves once the connection has no replies waiting in the ack queue. */
export function settled(conn: Conn): Promise<void> {
  if (conn.pending === 0) return Promise.resolve();
  return new Promise((resolve) => whenSettled(conn, resolve));
}

/** Closes the socket once its pending replies are written (ws drops sends on a closing socket). */
export function closeWhenSettled(conn: Conn, code: number, reason: string): void {
  conn.closing = true;
  const close = () => {
    if (conn.socket.readyState === WebSocket.OPEN) conn.socket.close(code, reason);
  };
  if (conn.pending === 0) return close();
  whenSettled(conn, close);
}

function whenSettled(conn: Conn, then: () => void): void {
  const before = conn.onSettled;
  conn.onSettled = () => {
    before?.();
    then();
  };
}
