// WS /ws/behaviour: raw frames in, one ack out per frame. Everything else happens in StreamService.
import type { OnGatewayConnection } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import { StreamService } from '../stream/stream.service.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';

@WebSocketGateway<GatewayOptions>({ path: '/ws/behaviour', endpoint: 'websocketEndpoint' })
export class IngestGateway implements OnGatewayConnection<WebSocket> {
  constructor(
    private readonly stream: StreamService,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(IngestGateway.name);
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const clientId = newClientId();
    this.stream.connectionOpened();
    // The hot path: bound directly on the socket, not through Nest's envelope routing or RxJS.
    // ws hands every frame over as a Buffer (fragments joined, text already checked as UTF-8);
    // binary frames are read as UTF-8 text too.
    socket.on('message', (data: Buffer) => {
      socket.send(this.stream.ingest(data.toString(), data.length, clientId));
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
