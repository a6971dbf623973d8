// The WebSocket adapter for both gateways. It extends Nest's WsAdapter so gateways keep their
// lifecycle hooks, but: frames are read raw by the gateways (no {event,data} envelope parsing),
// endpoint paths and limits come from config, unknown paths get an HTTP 404 instead of a dropped
// socket, and sockets are closed with a close frame rather than terminated.
import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { WsAdapter } from '@nestjs/platform-ws';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { PinoLogger } from 'nestjs-pino';
import type { Observable } from 'rxjs';
import { WebSocket, type WebSocketServer } from 'ws';
import type { AppConfig } from '../config/env.js';

/**
 * Gateways name the config field holding their path. `path` is the default endpoint and the key
 * Nest uses to tell gateways apart; the adapter serves the gateway at the configured path instead.
 */
export interface GatewayOptions {
  path: string;
  endpoint: 'websocketEndpoint' | 'monitorEndpoint';
}

export const CLOSE_GOING_AWAY = 1001;
const CLOSE_GRACE_MS = 1000;

type PathedServer = WebSocketServer & { path: string };

export function rejectUpgrade(socket: Duplex, status: number): void {
  const reason = STATUS_CODES[status] ?? 'Error';
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}

export class RawWsAdapter extends WsAdapter {
  private readonly upgradeListeners = new Map<
    Server,
    (request: IncomingMessage, socket: Duplex, head: Buffer) => void
  >();

  constructor(
    app: INestApplicationContext,
    private readonly cfg: AppConfig,
    private readonly log: PinoLogger,
  ) {
    super(app);
  }

  override create(port: number, options: Partial<GatewayOptions> & Record<string, unknown> = {}): unknown {
    const { endpoint, ...rest } = options;
    return super.create(port, {
      ...rest,
      path: endpoint ? this.cfg[endpoint] : rest.path,
      maxPayload: this.cfg.maxMessageBytes,
      perMessageDeflate: false,
    });
  }

  /** Our gateways have no @SubscribeMessage handlers and read frames themselves: bind nothing per frame. */
  override bindMessageHandlers(
    client: unknown,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    if (handlers.length > 0) super.bindMessageHandlers(client, handlers, transform);
  }

  /** Client errors are protocol violations that ws already answers with a close code: not server errors. */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (ws: WebSocket) =>
      ws.on('error', (err) => this.log.debug({ err: err.message }, 'WebSocket client error')),
    );
    server.on('error', (err) => this.log.error({ err }, 'WebSocket server error'));
    return server;
  }

  protected override ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    if (!httpServer || this.httpServersRegistry.has(port)) {
      return super.ensureHttpServerExists(port, httpServer);
    }
    const server = httpServer;
    this.httpServersRegistry.set(port, server);
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      let pathname: string;
      try {
        pathname = new URL(request.url ?? '/', 'ws://localhost').pathname;
      } catch {
        return rejectUpgrade(socket, 400);
      }
      const wsServer = (this.wsServersRegistry.get(port) as PathedServer[] | undefined)?.find(
        (s) => s.path === pathname,
      );
      if (!wsServer) return rejectUpgrade(socket, 404);
      wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
    };
    server.on('upgrade', onUpgrade);
    this.upgradeListeners.set(server, onUpgrade);
    return server;
  }

  /** Closes every socket with 1001 and a close frame, terminating only those that do not answer. */
  override async close(server: WebSocketServer): Promise<void> {
    const closed = [...server.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(CLOSE_GOING_AWAY, 'Server shutting down');
          setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        }),
    );
    await Promise.all(closed);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  override async dispose(): Promise<void> {
    for (const [server, listener] of this.upgradeListeners) server.off('upgrade', listener);
    this.upgradeListeners.clear();
    await super.dispose();
  }
}
