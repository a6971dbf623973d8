// Corks a WebSocket's TCP socket so that several frames sent in one go leave in one write. ws writes
// every frame to the socket at once (one syscall each); the sink answers a whole batch of frames at
// a time, several per connection, and corking them is one write per connection per batch instead.
// ws keeps the socket in `_socket` (not in its types, but unchanged since ws 1.x); without it
// nothing is corked and frames go out one by one as before.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** Corks the socket under `ws` (nested corks add up); returns it for the matching uncork. */
export function cork(ws: WebSocket): Duplex | undefined {
  const socket = (ws as unknown as { _socket?: Duplex | null })._socket ?? undefined;
  socket?.cork();
  return socket;
}
