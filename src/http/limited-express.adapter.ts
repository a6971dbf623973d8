// Express, with the HTTP server's header limits set when it is created: Node only takes
// maxHeaderSize as a creation option, and Nest's ExpressAdapter creates the server without it.
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { type RequestListener, createServer } from 'node:http';

export class LimitedExpressAdapter extends ExpressAdapter {
  constructor(
    private readonly maxHeaderBytes: number,
    private readonly maxHeaders: number,
  ) {
    super();
    // No X-Powered-By on any response: it only tells a scanner what to try.
    this.getInstance<{ disable(setting: string): void }>().disable('x-powered-by');
  }

  override initHttpServer(options: NestApplicationOptions): void {
    if (options.httpsOptions) return super.initHttpServer(options);
    const server = createServer({ maxHeaderSize: this.maxHeaderBytes }, this.getInstance<RequestListener>());
    // Node 24 answers 431 to a request with more headers than this, as it does past maxHeaderSize.
    server.maxHeadersCount = this.maxHeaders;
    this.setHttpServer(server);
  }
}
