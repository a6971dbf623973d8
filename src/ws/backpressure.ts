import type { Socket } from 'node:net';
import { WebSocket, type WebSocketServer } from 'ws';
import { CLOSE_POLICY_VIOLATION, STALLED_REASON } from '../protocol/index.js';

const RECHECK_MS = 20;
/** How long a stalled client gets to read up to our close frame before its socket is dropped. */
const STALL_CLOSE_GRACE_MS = 2000;
/** The stall watch's sweep: often enough that a stall is closed within a tenth past its timeout. */
const MAX_SWEEP_MS = 1000;

/** Closes a client that is not reading with 1008, and drops it if it still does not read. */
export function closeStalled(socket: WebSocket): void {
  if (socket.readyState !== WebSocket.OPEN) return;
  // The close frame queues behind the unread acks; a peer that still does not read is dropped.
  socket.close(CLOSE_POLICY_VIOLATION, STALLED_REASON);
  setTimeout(() => socket.terminate(), STALL_CLOSE_GRACE_MS).unref();
}

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
    if (Date.now() - pausedAt >= stallMs) return closeStalled(socket);
    setTimeout(check, RECHECK_MS).unref();
  };
  setTimeout(check, RECHECK_MS).unref();
}

/** What the stall watch knows of a socket with bytes queued: how far its writes had got, and since when. */
interface Progress {
  written: number;
  since: number;
}

/**
 * The server stops reading a socket for several reasons (its acks back up, the sink queue is full,
 * the stream's state is being loaded, a drain for shutdown), and TCP then stops the peer's sends.
 * Whatever the reason, a peer that does not read is found here: a socket with bytes queued that
 * made no write progress for `stallMs` is closed with 1008 and dropped STALL_CLOSE_GRACE_MS later.
 * One sweep per server, not a timer per socket; only sockets with bytes queued have an entry.
 */
export function watchStalls(server: WebSocketServer, stallMs: number): NodeJS.Timeout {
  const progress = new WeakMap<WebSocket, Progress>();
  const sweep = () => {
    const now = Date.now();
    for (const ws of server.clients) {
      if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount === 0) {
        progress.delete(ws);
        continue;
      }
      const raw = (ws as unknown as { _socket?: Socket })._socket;
      // Bytes the kernel took: everything handed to the socket less what still waits in it.
      const written = raw === undefined ? 0 : raw.bytesWritten - raw.writableLength;
      const seen = progress.get(ws);
      if (seen === undefined || seen.written !== written) {
        progress.set(ws, { written, since: now });
      } else if (now - seen.since >= stallMs) {
        progress.delete(ws);
        closeStalled(ws);
      }
    }
  };
  const timer = setInterval(sweep, Math.max(10, Math.min(MAX_SWEEP_MS, Math.floor(stallMs / 10))));
  timer.unref();
  return timer;
}
