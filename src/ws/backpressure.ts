import { WebSocket } from 'ws';

const RECHECK_MS = 20;

/**
 * Stops reading a socket whose peer is not reading what we send (acks, pongs), so it cannot make
 * the server queue without bound; TCP then pushes back on the peer. Reading resumes once half of
 * the queue has drained.
 */
export function pauseWhileBackedUp(socket: WebSocket, limit: number): void {
  if (socket.isPaused || socket.bufferedAmount <= limit) return;
  socket.pause();
  const check = () => {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount <= limit / 2) socket.resume();
    else setTimeout(check, RECHECK_MS).unref();
  };
  setTimeout(check, RECHECK_MS).unref();
}
