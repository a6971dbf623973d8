import { WebSocket } from 'ws';
import { CLOSE_POLICY_VIOLATION } from '../protocol/index.js';

const RECHECK_MS = 20;
export const STALLED_REASON = 'Client not reading';
/** How long a stalled client gets to read up to our close frame before its socket is dropped. */
const STALL_CLOSE_GRACE_MS = 2000;

/**
 * Stops reading a socket whose peer is not reading what we send (acks, pongs), so it cannot make
 * the server queue without bound; TCP then pushes back on the peer. Reading resumes once half of
 * the queue has drained. A peer that stays paused for `stallMs` is closed with 1008: otherwise a
 * client that answers pings but never reads would hold its full queue of acks forever.
 */
export function pauseWhileBackedUp(socket: WebSocket, limit: number, stallMs: number): void {
  if (socket.isPaused || socket.bufferedAmount <= limit) return;
  socket.pause();
  const pausedAt = Date.now();
  const check = () => {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount <= limit / 2) return socket.resume();
    if (Date.now() - pausedAt >= stallMs) {
      // The close frame queues behind the unread acks; a peer that still does not read is dropped.
      socket.close(CLOSE_POLICY_VIOLATION, STALLED_REASON);
      setTimeout(() => socket.terminate(), STALL_CLOSE_GRACE_MS).unref();
      return;
    }
    setTimeout(check, RECHECK_MS).unref();
  };
  setTimeout(check, RECHECK_MS).unref();
}
