// WS /ws/monitor: fans events out to monitors in batches (one frame per flush, split at
// MONITOR_FRAME_MAX_BYTES), and keeps a slow monitor from slowing ingest or growing memory. With
// Redis, each flush also publishes this instance's batch on the bus (one message per frame-sized
// chunk), and batches from other instances join the next local flush.
import { Inject, OnModuleDestroy } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import { PinoLogger } from 'nestjs-pino';
import type { Subscription } from 'rxjs';
import { WebSocket } from 'ws';
import { BusService, type RemoteBatch } from '../cluster/bus.service.js';
import { ClusterStatsService } from '../cluster/cluster-stats.service.js';
import { appConfig } from '../config/app.config.js';
import { type StreamEvent, serializeEvent } from '../stream/stream-event.js';
import { StreamService } from '../stream/stream.service.js';
import { newClientId } from '../ws/client-id.js';
import type { GatewayOptions } from '../ws/raw-ws.adapter.js';
import { chunkEvents, eventsFrames } from './events-frames.js';
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
  private local: StreamEvent[] = [];
  private remote: RemoteBatch[] = [];
  private pendingCount = 0;
  private lastFlush = 0;
  private droppedTotal = 0;
  private flushTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private readonly subscriptions: Subscription[] = [];
  /** With the Redis bus, other instances' monitors need this instance's events. */
  private readonly publishing: boolean;

  constructor(
    private readonly stream: StreamService,
    private readonly bus: BusService,
    private readonly cluster: ClusterStatsService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(MonitorGateway.name);
    this.publishing = bus.enabled;
  }

  /** Events this instance's monitors missed in total, for /metrics. */
  get dropped(): number {
    return this.droppedTotal;
  }

  afterInit(): void {
    this.subscriptions.push(
      this.stream.events$.subscribe((event) => this.enqueue(event)),
      this.bus.remote$.subscribe((batch) => this.enqueueRemote(batch)),
    );
    this.statsTimer = setInterval(() => this.sendStats(), STATS_INTERVAL_MS);
    this.statsTimer.unref();
    this.stream.setFanOut(this.publishing);
  }

  onModuleDestroy(): void {
    this.subscriptions.forEach((s) => s.unsubscribe());
    clearInterval(this.statsTimer);
    clearTimeout(this.flushTimer);
  }

  handleConnection(socket: WebSocket): void {
    const state: MonitorState = { id: newClientId(), dropped: 0, overSince: undefined };
    this.monitors.set(socket, state);
    this.stream.monitorOpened();
    this.stream.setFanOut(true);
    socket.once('close', () => {
      this.monitors.delete(socket);
      this.stream.monitorClosed();
      this.stream.setFanOut(this.monitors.size > 0 || this.publishing);
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
    if (this.monitors.size === 0 && !this.publishing) return;
    this.local.push(event);
    this.pendingCount++;
    this.schedule();
  }

  private enqueueRemote(batch: RemoteBatch): void {
    if (this.monitors.size === 0) return;
    this.remote.push(batch);
    this.pendingCount += batch.count;
    this.schedule();
  }

  /**
   * A batch goes out MONITOR_FLUSH_MS after its first event, or early once MONITOR_BATCH_MAX events
   * are pending, but never more than one frame per monitor per MONITOR_FLUSH_MS, whatever the rate.
   */
  private schedule(): void {
    if (
      this.pendingCount >= this.cfg.monitorBatchMax &&
      Date.now() - this.lastFlush >= this.cfg.monitorFlushMs
    ) {
      this.flush();
    } else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flush(), this.cfg.monitorFlushMs);
    }
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.lastFlush = Date.now();
    const count = this.pendingCount;
    if (count === 0) return;
    const { monitorEventMaxBytes, monitorFrameMaxBytes } = this.cfg;
    const local = chunkEvents(
      this.local.map((event) => serializeEvent(event, monitorEventMaxBytes)),
      monitorFrameMaxBytes,
    );
    for (const chunk of local) this.bus.publish(chunk.events, chunk.count);
    const remote = this.remote.map((b) => ({ ...b, bytes: Buffer.byteLength(b.events) }));
    this.local = [];
    this.remote = [];
    this.pendingCount = 0;
    if (this.monitors.size === 0) return;
    // Several frames when the batch is large: each stays under MONITOR_FRAME_MAX_BYTES.
    const frames = eventsFrames([...local, ...remote], monitorFrameMaxBytes);
    for (const [socket, state] of this.monitors) {
      if (this.isBackedUp(socket, state, this.lastFlush)) {
        state.dropped += count;
        this.droppedTotal += count;
      } else {
        for (const frame of frames) socket.send(frame, { binary: false });
      }
    }
  }

  private sendStats(): void {
    if (this.monitors.size === 0) return;
    const { totals, instance } = this.cluster.view();
    const now = Date.now();
    for (const [socket, state] of this.monitors) {
      if (this.isBackedUp(socket, state, now)) continue;
      const frame: StatsFrame = {
        type: 'stats',
        ...totals,
        dropped: state.dropped,
        ...(instance && { instance }),
      };
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
