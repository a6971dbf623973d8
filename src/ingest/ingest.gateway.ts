// WS /ws/behaviour: raw frames in, one ack out per frame. Everything else happens in StreamService.
import { Inject } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { OnGatewayConnection } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { StreamService } from '../stream/stream.service.js';
import { pauseWhileBackedUp } from '../ws/backpressure.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { RateLimiter } from './rate-limiter.js';

export const RATE_LIMITED = '{"status":"error","message":"Rate limit exceeded"}';
export const CLOSE_POLICY_VIOLATION = 1008;

@WebSocketGateway<GatewayOptions>({ path: '/ws/behaviour', endpoint: 'websocketEndpoint' })
export class IngestGateway implements OnGatewayConnection<WebSocket> {
  constructor(
    private readonly stream: StreamService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(IngestGateway.name);
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const clientId = newClientId();
    const { rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs, clientMaxBufferBytes } = this.cfg;
    const limiter =
      rateLimitPerConnection > 0
        ? new RateLimiter(rateLimitPerConnection, rateLimitBurst, rateLimitCloseAfterMs, Date.now())
        : undefined;
    this.stream.connectionOpened();
    // The hot path: bound directly on the socket, not through Nest's envelope routing or RxJS.
    // ws hands every frame over as a Buffer (fragments joined, text already checked as UTF-8);
    // binary frames are read as UTF-8 text too.
    socket.on('message', (data: Buffer) => {
      if (limiter !== undefined) {
        const verdict = limiter.take(Date.now());
        if (verdict !== 'allow') {
          socket.send(RATE_LIMITED);
          if (verdict === 'close') socket.close(CLOSE_POLICY_VIOLATION, 'Rate limit exceeded');
          return;
        }
      }
      socket.send(this.stream.ingest(data.toString(), data.length, clientId));
      if (socket.bufferedAmount > clientMaxBufferBytes) pauseWhileBackedUp(socket, clientMaxBufferBytes);
    });
    socket.once('close', (code: number) => {
      this.stream.connectionClosed();
      this.logger.info({ client_id: clientId, code }, 'Client %s disconnected (%d)', clientId, code);
    });
    this.logger.info(
      {
        client_id: clientId,
        remote_address: request.socket.remoteAddress,
        user_agent: request.headers['user-agent'],
      },
      'Client %s connected',
      clientId,
    );
  }
}
