// The WebSocket adapter for both gateways. It extends Nest's WsAdapter so gateways keep their
// lifecycle hooks, but: frames are read raw by the gateways (no {event,data} envelope parsing),
// endpoint paths and limits come from config, upgrades pass the UpgradePolicy (refusals and
// unknown paths get an HTTP status instead of a dropped socket), dead peers are found by
// heartbeat, and sockets are closed with a close frame rather than terminated.
import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { WsAdapter } from '@nestjs/platform-ws';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { PinoLogger } from 'nestjs-pino';
import type { Observable } from 'rxjs';
import { WebSocket, type WebSocketServer } from 'ws';
import type { Endpoint, UpgradePolicy } from '../access/upgrade-policy.js';
import { selectProtocol } from '../auth/credentials.js';
import type { AppConfig } from '../config/env.js';
import { CLOSE_GOING_AWAY, SHUTTING_DOWN_REASON, mounted } from '../protocol/index.js';
import { parseMonitorParams } from '../monitor/monitor-params.js';
import { pauseWhileBackedUp, watchStalls } from './backpressure.js';
import { sharedListener } from './shared-listener.js';

/**
 * Gateways name the config field holding their path. `path` is the default endpoint and the key
 * Nest uses to tell gateways apart; the adapter serves the gateway at the configured path instead.
 */
export interface GatewayOptions {
  path: string;
  endpoint: Endpoint;
}

export { CLOSE_GOING_AWAY };
const MAX_CLOSE_GRACE_MS = 2000;
/**
 * The heartbeat is paced: every tick pings its share of the sockets (size × tick / interval), so
 * each interval's pings, and the pongs they bring back, are spread evenly over the interval instead
 * of arriving as one burst that every ack in flight would wait behind.
 */
const HEARTBEAT_TICK_MS = 100;
/**
 * Sockets sent their close frame per turn of the event loop at shutdown: all of one process at its
 * open-files limit, since the sooner every peer has its 1001 the more of them read it before any
 * cut-off (smaller slices left peers on a starved machine without one).
 */
const CLOSE_SLICE = 20_000;
/** The share of SHUTDOWN_TIMEOUT_MS after which sockets still open are cut off. */
const HARD_STOP_SHARE = 0.6;

type PathedServer = WebSocketServer & { path: string };

/** What the adapter logs through (a PinoLogger). */
export type WsLog = Pick<PinoLogger, 'debug' | 'info' | 'warn' | 'error'>;

export function rejectUpgrade(
  socket: Duplex,
  status: number,
  headers: Record<string, string> = {},
  body?: string,
): void {
  const reason = STATUS_CODES[status] ?? 'Error';
  const text = body ?? reason;
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `X-Content-Type-Options: nosniff\r\n${extra}` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/** A refused upgrade: its status, one line of text (never the token), and the challenge on 401. */
function refuseUpgrade(socket: Duplex, status: number): void {
  rejectUpgrade(socket, status, status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
}

export class RawWsAdapter extends WsAdapter {
  private readonly upgradeListeners = new Map<
    Server,
    (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  >();
  private readonly endpoints = new Map<WebSocketServer, Endpoint>();
  private readonly heartbeats = new Map<WebSocketServer, NodeJS.Timeout>();
  private readonly stallWatches = new Map<WebSocketServer, NodeJS.Timeout>();
  /** Sockets pinged and not yet answered, with the payload their pong must echo. */
  private readonly awaitingPong = new WeakMap<WebSocket, Buffer>();

  constructor(
    app: INestApplicationContext,
    private readonly cfg: AppConfig,
    private readonly policy: UpgradePolicy,
    private readonly log: WsLog,
    /** Resolves once a socket's pending replies (acks waiting for the sink) are written. */
    private readonly settled: (ws: WebSocket) => Promise<void> = () => Promise.resolve(),
    /** When the shutdown began (performance.now()), if it did: sockets are cut off in time for it. */
    private readonly shutdownStartedAt: () => number | undefined = () => undefined,
  ) {
    super(app);
  }

  override create(port: number, options: Partial<GatewayOptions> & Record<string, unknown> = {}): unknown {
    const { endpoint, ...rest } = options;
    // A host application's own gateway (embedded, see CbsaWsAdapter) is served as WsAdapter would.
    if (!endpoint) {
      const server = super.create(port, rest) as WebSocketServer;
      server.on('connection', this.markGuest);
      return server;
    }
    const server = super.create(port, {
      ...rest,
      path: mounted(this.cfg, this.cfg[endpoint]),
      maxPayload: this.cfg.maxMessageBytes,
      perMessageDeflate: false,
      // cbsa.v1 when offered; never a cbsa.bearer.<jwt> (the answer would echo the token).
      handleProtocols: selectProtocol,
    }) as WebSocketServer;
    this.endpoints.set(server, endpoint);
    server.on('connection', this.watch);
    if (this.cfg.heartbeatIntervalMs > 0) this.heartbeats.set(server, this.heartbeat(server));
    // Monitors have their own limit (MONITOR_MAX_BUFFER_BYTES, MONITOR_SLOW_TIMEOUT_MS).
    if (endpoint === 'websocketEndpoint') {
      this.stallWatches.set(server, watchStalls(server, this.cfg.clientStallTimeoutMs));
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

  /**
   * Nest would add a close listener per socket to feed handleDisconnect; our gateways have none and
   * watch their sockets' close themselves, so nothing is bound (one closure fewer per connection).
   */
  override bindClientDisconnect(client: WebSocket, callback: (data?: unknown) => void): void {
    if (this.guests.has(client)) super.bindClientDisconnect(client, callback);
  }

  /** Sockets of a host application's own gateways: they keep Nest's usual disconnect handling. */
  private readonly guests = new WeakSet<WebSocket>();
  private readonly markGuest = (ws: WebSocket): void => void this.guests.add(ws);

  /** Client errors are protocol violations that ws already answers with a close code: not server errors. */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    const onClientError = sharedListener((_ws, err: Error) =>
      this.log.debug({ err: err.message }, 'WebSocket client error'),
    );
    server.on('connection', (ws: WebSocket) => ws.on('error', onClientError));
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
      if (!wsServer) return rejectUpgrade(socket, 404);
      const endpoint = this.endpoints.get(wsServer);
      if (!endpoint) {
        return wsServer.handleUpgrade(request, socket, head, (ws) =>
          wsServer.emit('connection', ws, request),
        );
      }
      const status = this.policy.refusal(request, endpoint);
      if (status !== undefined) return refuseUpgrade(socket, status);
      if (endpoint === 'monitorEndpoint') {
        const parsed = parseMonitorParams(request.url);
        if (!parsed.ok) return rejectUpgrade(socket, 400, {}, parsed.message);
      }
      void this.policy.admit(request, endpoint).then(
        (grant) => {
          if (typeof grant === 'number') return refuseUpgrade(socket, grant);
          // The slot is held until the TCP socket closes: also when ws refuses the handshake itself.
          if (socket.destroyed) return grant();
          // `on`, not `once`: a net.Socket closes once, and once() would wrap grant in a closure.
          socket.on('close', grant);
          wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
        },
        (err: Error) => {
          // Only when the primary cannot be asked (its IPC channel closed): refuse, as when full.
          this.log.warn({ err: err.message }, 'Connection slot unavailable');
          rejectUpgrade(socket, 503);
        },
      );
    };
    httpServer.on('upgrade', onUpgrade);
    this.upgradeListeners.set(httpServer, onUpgrade);
    return httpServer;
  }

  /**
   * Closes every socket with 1001 and a close frame, terminating only those that do not answer:
   * those still open `grace` after the last close frame went out, and in any case all that are
   * still open at 60 % of SHUTDOWN_TIMEOUT_MS into the shutdown (the rest is left for
   * cutting them off and closing Redis), so the process exits in time however many peers are slow.
   */
  override async close(server: WebSocketServer): Promise<void> {
    if (!this.endpoints.has(server)) return super.close(server);
    clearInterval(this.heartbeats.get(server));
    this.heartbeats.delete(server);
    clearInterval(this.stallWatches.get(server));
    this.stallWatches.delete(server);
    const grace = Math.min(MAX_CLOSE_GRACE_MS, this.cfg.shutdownTimeoutMs / 2);
    let cutOffCount = 0;
    const terminateAll = () => {
      for (const ws of server.clients) {
        if (ws.readyState !== WebSocket.CLOSED) cutOffCount++;
        ws.terminate();
      }
    };
    const began = this.shutdownStartedAt() ?? performance.now();
    const stopAt = began + HARD_STOP_SHARE * this.cfg.shutdownTimeoutMs;
    const hardStop = setTimeout(terminateAll, Math.max(grace, stopAt - performance.now()));
    hardStop.unref();
    // One counter and one cut-off timer for all sockets, not a timer each: with 100k sockets
    // per-socket timers cost more than the close frames themselves.
    const sockets = [...server.clients].filter((ws) => ws.readyState !== WebSocket.CLOSED);
    let open = sockets.length;
    let allClosed!: () => void;
    const done = new Promise<void>((resolve) => (allClosed = resolve));
    const onClose = () => {
      if (--open === 0) allClosed();
    };
    for (const ws of sockets) ws.on('close', onClose);
    if (open === 0) allClosed();
    // Close frames go out in slices with a turn of the event loop between them, so the answers of
    // the first peers are read (and timers run) while the rest are still being written.
    const settling: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      let next = 0;
      const slice = () => {
        for (const end = Math.min(sockets.length, next + CLOSE_SLICE); next < end; next++) {
          const ws = sockets[next];
          // Pending acks first: ws drops sends on a closing socket. The sink has drained by now.
          settling.push(this.settled(ws).then(() => ws.close(CLOSE_GOING_AWAY, SHUTTING_DOWN_REASON)));
        }
        if (next < sockets.length) setImmediate(slice);
        else resolve();
      };
      slice();
    });
    let cutOff: NodeJS.Timeout | undefined;
    void Promise.all(settling).then(() => {
      cutOff = setTimeout(terminateAll, grace);
      cutOff.unref();
    });
    await done;
    clearTimeout(cutOff);
    clearTimeout(hardStop);
    // One line for all (the gateways log each disconnect at debug while shutting down).
    if (sockets.length > 0) {
      this.log.info(
        {
          path: (server as PathedServer).path,
          sockets: sockets.length,
          cut_off: cutOffCount,
        },
        'Closed %d sockets with 1001 (%d cut off without an answer)',
        sockets.length,
        cutOffCount,
      );
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  override async dispose(): Promise<void> {
    for (const [server, listener] of this.upgradeListeners) server.off('upgrade', listener);
    this.upgradeListeners.clear();
    await super.dispose();
  }

  /**
   * Liveness and ping-flood protection, for both endpoints. The listeners are shared by every
   * socket (`this` is the socket): per-connection closures cost memory at 100k sockets.
   */
  private readonly watch = (ws: WebSocket): void => {
    ws.on('pong', this.onPong);
    ws.on('ping', this.onPing);
  };

  /** Only a pong echoing our last ping answers it (RFC 6455 5.5.3): unsolicited pongs prove nothing. */
  private readonly onPong = sharedListener((ws, data: Buffer) => {
    const expected = this.awaitingPong.get(ws);
    if (expected !== undefined && expected.equals(data)) this.awaitingPong.delete(ws);
  });

  /** ws answers every ping itself; a peer that floods pings and never reads gets its socket paused. */
  private readonly onPing = sharedListener((ws) =>
    pauseWhileBackedUp(ws, this.cfg.clientMaxBufferBytes, this.cfg.clientStallTimeoutMs),
  );

  /**
   * Each interval every socket is visited once: one that has not answered its ping for at least half
   * an interval is terminated, the others are pinged. The visits are paced over the interval (every
   * HEARTBEAT_TICK_MS, the tick's share of the sockets), a round starting no sooner than one interval
   * after the previous one, so a socket is pinged about once per interval and at most a tick's share
   * of sockets is handled in one turn of the event loop.
   */
  private heartbeat(server: WebSocketServer): NodeJS.Timeout {
    const interval = this.cfg.heartbeatIntervalMs;
    const tick = Math.min(HEARTBEAT_TICK_MS, Math.max(1, Math.floor(interval / 4)));
    /** Ticks a ping must have gone unanswered before its socket is dropped (socket order shifts). */
    const patience = Math.ceil(interval / 2 / tick);
    let ticks = 0;
    let round = server.clients.values();
    let roundStartedAt = performance.now();
    let roundDone = false;
    const visit = (): void => {
      ticks = (ticks + 1) >>> 0;
      if (roundDone) {
        if (performance.now() - roundStartedAt < interval - tick) return;
        round = server.clients.values();
        roundStartedAt = performance.now();
        roundDone = false;
      }
      // Each ping's 8 bytes: 4 random (a peer that does not read the ping cannot forge its answer),
      // then the tick it was sent in, so its age is known without any per-socket state. One random
      // draw per tick, sliced per socket (subarray shares the memory).
      const share = Math.ceil((server.clients.size * tick) / interval);
      if (share === 0) return;
      const pool = randomBytes(8 * share);
      for (let i = 0; i < share; i++) {
        const next = round.next();
        if (next.done) {
          roundDone = true;
          return;
        }
        const ws = next.value;
        const awaiting = this.awaitingPong.get(ws);
        if (awaiting !== undefined) {
          if ((ticks - awaiting.readUInt32LE(4)) >>> 0 < patience) continue;
          // Acks already decided are written first (the peer may yet read them).
          void this.settled(ws).then(() => ws.terminate());
          continue;
        }
        const payload = pool.subarray(8 * i, 8 * i + 8);
        payload.writeUInt32LE(ticks, 4);
        this.awaitingPong.set(ws, payload);
        ws.ping(payload);
      }
    };
    const timer = setInterval(visit, tick);
    timer.unref();
    return timer;
  }
}
