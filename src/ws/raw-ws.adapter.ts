// The WebSocket adapter for both gateways. It extends Nest's WsAdapter so gateways keep their
// lifecycle hooks, but: frames are read raw by the gateways (no {event,data} envelope parsing),
// endpoint paths and limits come from config, upgrades pass the UpgradePolicy (refusals and
// unknown paths get an HTTP status instead of a dropped socket), dead peers are found by
// heartbeat, and sockets are closed with a close frame rather than terminated.
import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { WsAdapter } from '@nestjs/platform-ws';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { PinoLogger } from 'nestjs-pino';
import type { Observable } from 'rxjs';
import { WebSocket, type WebSocketServer } from 'ws';
import type { Endpoint, UpgradePolicy } from '../access/upgrade-policy.js';
import type { AppConfig } from '../config/env.js';
import { pauseWhileBackedUp } from './backpressure.js';

/**
 * Gateways name the config field holding their path. `path` is the default endpoint and the key
 * Nest uses to tell gateways apart; the adapter serves the gateway at the configured path instead.
 */
export interface GatewayOptions {
  path: string;
  endpoint: Endpoint;
}

export const CLOSE_GOING_AWAY = 1001;
const MAX_CLOSE_GRACE_MS = 2000;

type PathedServer = WebSocketServer & { path: string };

export function rejectUpgrade(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  const reason = STATUS_CODES[status] ?? 'Error';
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}` +
      `Content-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}

export class RawWsAdapter extends WsAdapter {
  private readonly upgradeListeners = new Map<
    Server,
    (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  >();
  private readonly endpoints = new Map<WebSocketServer, Endpoint>();
  private readonly heartbeats = new Map<WebSocketServer, NodeJS.Timeout>();
  /** Sockets pinged and not yet answered. */
  private readonly awaitingPong = new WeakSet<WebSocket>();

  constructor(
    app: INestApplicationContext,
    private readonly cfg: AppConfig,
    private readonly policy: UpgradePolicy,
    private readonly log: PinoLogger,
    /** Resolves once a socket's pending replies (acks waiting for the sink) are written. */
    private readonly settled: (ws: WebSocket) => Promise<void> = () => Promise.resolve(),
  ) {
    super(app);
  }

  override create(port: number, options: Partial<GatewayOptions> & Record<string, unknown> = {}): unknown {
    const { endpoint, ...rest } = options;
    const server = super.create(port, {
      ...rest,
      path: endpoint ? this.cfg[endpoint] : rest.path,
      maxPayload: this.cfg.maxMessageBytes,
      perMessageDeflate: false,
    }) as WebSocketServer;
    if (endpoint) this.endpoints.set(server, endpoint);
    server.on('connection', (ws: WebSocket) => this.watch(ws));
    if (this.cfg.heartbeatIntervalMs > 0) {
      const timer = setInterval(() => this.heartbeat(server), this.cfg.heartbeatIntervalMs);
      timer.unref();
      this.heartbeats.set(server, timer);
    }
    return server;
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
    this.httpServersRegistry.set(port, httpServer);
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
      const endpoint = wsServer && this.endpoints.get(wsServer);
      if (!wsServer || !endpoint) return rejectUpgrade(socket, 404);
      const status = this.policy.refusal(request, endpoint);
      if (status !== undefined) {
        return rejectUpgrade(socket, status, status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
      }
      wsServer.handleUpgrade(request, socket, head, (ws) => {
        this.policy.admitted(ws, request, endpoint);
        wsServer.emit('connection', ws, request);
      });
    };
    httpServer.on('upgrade', onUpgrade);
    this.upgradeListeners.set(httpServer, onUpgrade);
    return httpServer;
  }

  /** Closes every socket with 1001 and a close frame, terminating only those that do not answer. */
  override async close(server: WebSocketServer): Promise<void> {
    clearInterval(this.heartbeats.get(server));
    this.heartbeats.delete(server);
    const grace = Math.min(MAX_CLOSE_GRACE_MS, this.cfg.shutdownTimeoutMs / 2);
    const closed = [...server.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          // Pending acks first: ws drops sends on a closing socket. The sink has drained by now.
          void this.settled(ws).then(() => {
            ws.close(CLOSE_GOING_AWAY, 'Server shutting down');
            setTimeout(() => ws.terminate(), grace).unref();
          });
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

  /** Per-socket liveness and ping-flood protection, for both endpoints. */
  private watch(ws: WebSocket): void {
    ws.on('pong', () => this.awaitingPong.delete(ws));
    // ws answers every ping itself; a peer that floods pings and never reads gets its socket paused.
    ws.on('ping', () => pauseWhileBackedUp(ws, this.cfg.clientMaxBufferBytes));
  }

  /** Terminates sockets that did not answer the previous ping, then pings the rest. */
  private heartbeat(server: WebSocketServer): void {
    for (const ws of server.clients) {
      if (this.awaitingPong.has(ws)) {
        // Acks already decided are written first (the peer may yet read them).
        void this.settled(ws).then(() => ws.terminate());
        continue;
      }
      this.awaitingPong.add(ws);
      ws.ping();
    }
  }
}
