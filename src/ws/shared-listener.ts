import type { WebSocket } from 'ws';

/**
 * A listener added to every socket, once for all of them: `this` (the emitting socket) is passed on
 * as the first argument. A closure per connection costs a function and a context each, which adds
 * up at 100k sockets.
 */
export function sharedListener<T = void>(
  handler: (socket: WebSocket, arg: T) => void,
): (this: WebSocket, arg: T) => void {
  return function (this: WebSocket, arg: T): void {
    handler(this, arg);
  };
}
