// WS /ws/behaviour: connection handling only (identity from the upgrade, stream ownership and
// takeovers, the resume frame, the close); every frame goes to the FramePipeline. A connection
// opened with a stream id (?stream= or X-CBSA-Stream) is resumable: the server first sends
// {"type":"resume",...}, then checks every frame's seq (see docs/delivery-guarantees.md).
import { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { OnGatewayConnection } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import type { Subscription } from 'rxjs';
import { AuthService } from '../auth/auth.service.js';
import { BusService } from '../cluster/bus.service.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import {
  CLOSE_POLICY_VIOLATION,
  CLOSE_STREAM_RESUMED,
  CLOSE_TRY_AGAIN_LATER,
  DEFAULT_INGEST_PATH,
  STREAM_HEADER,
  STREAM_HELD_REASON,
  STREAM_RESUMED_REASON,
  TRY_AGAIN_LATER_REASON,
  requestedStream,
  resumeFrame,
} from '../protocol/index.js';
import { StreamService } from '../stream/stream.service.js';
import { newClientId } from '../ws/client-id.js';
import { sharedListener } from '../ws/shared-listener.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { type Conn, closeWhenSettled, newConn } from './connection.js';
import { FramePipeline } from './frame-pipeline.js';

@WebSocketGateway<GatewayOptions>({ path: DEFAULT_INGEST_PATH, endpoint: 'websocketEndpoint' })
export class IngestGateway implements OnGatewayConnection<WebSocket>, OnModuleInit, OnModuleDestroy {
  /** The live connection of each stream on this instance: a newer one closes the older (4001). */
  private readonly owners = new Map<string, Conn>();
  private takeovers?: Subscription;

  constructor(
    private readonly pipeline: FramePipeline,
    private readonly stream: StreamService,
    private readonly logger: PinoLogger,
    private readonly bus: BusService,
    private readonly lifecycle: LifecycleService,
    private readonly auth: AuthService,
  ) {
    logger.setContext(IngestGateway.name);
  }

  onModuleInit(): void {
    // A newer connection of a stream on another instance closes the older one here too.
    // Only a connection of the same subject takes a stream over.
    this.takeovers = this.bus.takeovers$.subscribe(({ stream, openedAt, sub }) => {
      const older = this.owners.get(stream);
      if (older !== undefined && older.openedAt < openedAt && older.sub === sub) {
        closeWhenSettled(older, CLOSE_STREAM_RESUMED, STREAM_RESUMED_REASON);
      }
    });
  }

  onModuleDestroy(): void {
    this.takeovers?.unsubscribe();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const clientId = newClientId();
    // Checked by the UpgradePolicy already: a string or undefined here.
    const streamId = requestedStream(request.url, request.headers[STREAM_HEADER]) ?? undefined;
    // JWT mode: who it is was verified at the upgrade (AuthService), before any state was read.
    const identity = this.auth.identityOf(request);
    const conn = newConn(socket, clientId, streamId, identity);
    this.pipeline.open(conn);
    this.stream.connectionOpened();
    // `on`, not `once`: ws emits close once, and once() would wrap the listener in a closure.
    socket.on('close', this.onSocketClose);
    this.logger.info(
      {
        client_id: clientId,
        remote_address: request.socket.remoteAddress,
        user_agent: request.headers['user-agent'],
        stream: streamId,
        sub: identity?.sub,
      },
      'Client %s connected',
      clientId,
    );
    if (streamId === undefined) {
      socket.on('message', this.pipeline.frames(conn, false));
      return;
    }
    const older = this.owners.get(streamId);
    if (older !== undefined && older.sub !== conn.sub) {
      // Two subjects that both own the stream (a:b and a for a:b:c) raced past the upgrade check.
      conn.closing = true;
      socket.close(CLOSE_POLICY_VIOLATION, STREAM_HELD_REASON);
      return;
    }
    if (older !== undefined) closeWhenSettled(older, CLOSE_STREAM_RESUMED, STREAM_RESUMED_REASON);
    this.owners.set(streamId, conn);
    if (identity !== undefined) this.auth.hold(streamId, identity.sub);
    this.bus.announceStream(streamId, conn.openedAt, conn.sub);
    // The stream's last seq comes from the log (in memory, Redis or NATS): frames wait until the
    // resume frame, which must come first.
    const early: Buffer[] = [];
    let onFrame: ((data: Buffer) => void) | undefined;
    socket.on('message', (data: Buffer) => (onFrame === undefined ? early.push(data) : onFrame(data)));
    socket.pause();
    this.pipeline.lastSeq(streamId).then(
      (last) => {
        socket.send(resumeFrame(streamId, last));
        onFrame = this.pipeline.frames(conn, this.stream.resumed(last));
        early.forEach(onFrame);
        socket.resume();
      },
      () => {
        conn.closing = true;
        socket.close(CLOSE_TRY_AGAIN_LATER, TRY_AGAIN_LATER_REASON);
        // Read again so the client's close frame is seen: a paused socket would hold the close
        // handshake open until ws's 30 s close timeout. Early frames are dropped (not stored).
        socket.resume();
      },
    );
  }

  /**
   * One close listener shared by every ingest socket (`this` is the socket), rather than a closure
   * per connection: at 100k sockets each closure and its context are memory that adds up.
   */
  private readonly onSocketClose = sharedListener((socket, code: number) => this.closed(socket, code));

  private closed(socket: WebSocket, code: number): void {
    this.stream.connectionClosed();
    const conn = this.pipeline.connOf(socket);
    if (conn === undefined) return;
    const { clientId, stream } = conn;
    clearTimeout(conn.expiry);
    if (stream !== undefined && this.owners.get(stream) === conn) {
      this.owners.delete(stream);
      this.auth.letGo(stream, conn.sub);
    }
    // At shutdown the adapter logs one line for all of them: 100k lines would outlast SHUTDOWN_TIMEOUT_MS
    // in the log pipe alone (a process exits only once its log is flushed).
    if (this.lifecycle.shuttingDown) {
      this.logger.debug({ client_id: clientId, code }, 'Client %s disconnected (%d)', clientId, code);
    } else {
      this.logger.info({ client_id: clientId, code }, 'Client %s disconnected (%d)', clientId, code);
    }
  }
}
