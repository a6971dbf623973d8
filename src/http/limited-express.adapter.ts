// Express, with the HTTP server's header limits set when it is created: Node only takes
// maxHeaderSize as a creation option, and Nest's ExpressAdapter creates the server without it.
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import {
  type IncomingMessage,
  type RequestListener,
  STATUS_CODES,
  type ServerResponse,
  createServer,
} from 'node:http';
import type { Duplex } from 'node:stream';

/** On every response: a browser must never run a plain-text body (one may echo a client's input). */
export const NOSNIFF = 'X-Content-Type-Options';

/**
 * What Node answers itself to a request it cannot parse (400, 431 past the header limits, 408),
 * with nosniff added, as its default clientError handling would otherwise write.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || (socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${NOSNIFF}: nosniff\r\nConnection: close\r\n\r\n`,
  );
}

export class LimitedExpressAdapter extends ExpressAdapter {
  constructor(
    private readonly maxHeaderBytes: number,
    private readonly maxHeaders: number,
  ) {
    super();
    // No X-Powered-By on any response: it only tells a scanner what to try.
    const express = this.getInstance<{
      disable(setting: string): void;
      use(handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): void;
    }>();
    express.disable('x-powered-by');
    // First in the chain, so every route, refusal, 404 and error response carries it.
    express.use((_req, res, next) => {
      res.setHeader(NOSNIFF, 'nosniff');
      next();
    });
  }

  override initHttpServer(options: NestApplicationOptions): void {
    if (options.httpsOptions) return super.initHttpServer(options);
    const server = createServer({ maxHeaderSize: this.maxHeaderBytes }, this.getInstance<RequestListener>());
    // Node 24 answers 431 to a request with more headers than this, as it does past maxHeaderSize.
    server.maxHeadersCount = this.maxHeaders;
    server.on('clientError', answerClientError);
    this.setHttpServer(server);
  }
}
