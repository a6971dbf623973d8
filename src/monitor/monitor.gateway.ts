// WS /ws/monitor: fans StreamService events out to monitors in batches, one frame per flush,
// and keeps a slow monitor from slowing ingest or growing memory.
import { Inject, OnModuleDestroy } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import { PinoLogger } from 'nestjs-pino';
import type { Subscription } from 'rxjs';
import { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { type StreamEvent, serializeEvent } from '../stream/stream-event.js';
import { StreamService } from '../stream/stream.service.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import type { HelloFrame, StatsFrame } from './monitor-frames.js';

interface MonitorState {
  id: string;
  dropped: number;
  /** When the socket's buffer first went over the limit; undefined while it is under. */
  overSince: number | undefined;
}

export const FLOW_MAP_PATH = '/event-flow-map';
const STATS_INTERVAL_MS = 1000;

@WebSocketGateway<GatewayOptions>({ path: '/ws/monitor', endpoint: 'monitorEndpoint' })
export class MonitorGateway implements OnGatewayInit, OnGatewayConnection<WebSocket>, OnModuleDestroy {
  private readonly monitors = new Map<WebSocket, MonitorState>();
  private pending: StreamEvent[] = [];
  private flushTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private subscription?: Subscription;

  constructor(
    private readonly stream: StreamService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(MonitorGateway.name);
  }

  afterInit(): void {
    this.subscription = this.stream.events$.subscribe((event) => this.enqueue(event));
    this.statsTimer = setInterval(() => this.sendStats(), STATS_INTERVAL_MS);
    this.statsTimer.unref();
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    clearInterval(this.statsTimer);
    clearTimeout(this.flushTimer);
  }

  handleConnection(socket: WebSocket): void {
    const state: MonitorState = { id: newClientId(), dropped: 0, overSince: undefined };
    this.monitors.set(socket, state);
    this.stream.monitorOpened();
    socket.once('close', () => {
      this.monitors.delete(socket);
      this.stream.monitorClosed();
      this.logger.info({ monitor_id: state.id }, 'Monitor %s disconnected', state.id);
    });
    const hello: HelloFrame = {
      type: 'hello',
      app: { name: this.cfg.appName, version: this.cfg.version },
      flow_map: FLOW_MAP_PATH,
    };
    socket.send(JSON.stringify(hello));
    this.logger.info({ monitor_id: state.id }, 'Monitor %s connected', state.id);
  }

  /** Called per ingested frame: only queue it, no timer or I/O per event. */
  private enqueue(event: StreamEvent): void {
    if (this.monitors.size === 0) return;
    this.pending.push(event);
    if (this.pending.length >= this.cfg.monitorBatchMax) {
      this.flush();
    } else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flush(), this.cfg.monitorFlushMs);
    }
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const events = this.pending;
    this.pending = [];
    if (events.length === 0) return;
    const frame = '{"type":"events","events":[' + events.map(serializeEvent).join(',') + ']}';
    const now = Date.now();
    for (const [socket, state] of this.monitors) {
      if (this.isBackedUp(socket, state, now)) {
        state.dropped += events.length;
      } else {
        socket.send(frame);
      }
    }
  }

  private sendStats(): void {
    const stats = this.stream.stats();
    const now = Date.now();
    for (const [socket, state] of this.monitors) {
      if (this.isBackedUp(socket, state, now)) continue;
      const frame: StatsFrame = { type: 'stats', ...stats, dropped: state.dropped };
      socket.send(JSON.stringify(frame));
    }
  }

  /** True while the monitor is over its buffer limit; terminates it once it stays there too long. */
  private isBackedUp(socket: WebSocket, state: MonitorState, now: number): boolean {
    if (socket.readyState !== WebSocket.OPEN) return true;
    if (socket.bufferedAmount <= this.cfg.monitorMaxBufferBytes) {
      state.overSince = undefined;
      return false;
    }
    state.overSince ??= now;
    if (now - state.overSince >= this.cfg.monitorSlowTimeoutMs) {
      this.logger.warn(
        { monitor_id: state.id, buffered: socket.bufferedAmount, dropped: state.dropped },
        'Monitor %s too slow, terminating',
        state.id,
      );
      socket.terminate();
    }
    return true;
  }
}
