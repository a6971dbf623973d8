// Fans events out to monitors in batches, one frame per flush (split at MONITOR_FRAME_MAX_BYTES), sends each monitor its stats every
// second, and keeps a slow monitor from slowing ingest or growing memory. With Redis, each flush
// also publishes this instance's batch on the bus, and batches from other instances join the next
// local flush. MonitorGateway only hands sockets in (add) and they leave by closing.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import type { Subscription } from 'rxjs';
import { WebSocket } from 'ws';
import { BusService, type RemoteBatch } from '../cluster/bus.service.js';
import { ClusterStatsService } from '../cluster/cluster-stats.service.js';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { encodeEvent, encodeStats } from '../protocol/index.js';
import type { StreamEvent } from '../stream/stream-event.js';
import { StreamService } from '../stream/stream.service.js';
import { chunkEvents, eventsFrames } from './events-frames.js';

interface MonitorState {
  id: string;
  dropped: number;
  /** When the socket's buffer first went over the limit; undefined while it is under. */
  overSince: number | undefined;
}

const STATS_INTERVAL_MS = 1000;

@Injectable()
export class MonitorFanout implements OnModuleInit, OnModuleDestroy {
  private readonly monitors = new Map<WebSocket, MonitorState>();
  private local: StreamEvent[] = [];
  private remote: RemoteBatch[] = [];
  private pendingCount = 0;
  private lastFlush = 0;
  private droppedTotal = 0;
  private flushTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  /** Held only while events are needed, so StreamService skips RxJS when nobody watches. */
  private events?: Subscription;
  private remoteEvents?: Subscription;
  /** With the Redis bus, other instances' monitors need this instance's events. */
  private readonly publishing: boolean;

  constructor(
    private readonly stream: StreamService,
    private readonly bus: BusService,
    private readonly cluster: ClusterStatsService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    logger.setContext(MonitorFanout.name);
    this.publishing = bus.enabled;
    metrics.counter(
      'cbsa_monitor_events_dropped_total',
      'Events not sent to monitors that were over MONITOR_MAX_BUFFER_BYTES',
      () => this.droppedTotal,
    );
  }

  onModuleInit(): void {
    this.remoteEvents = this.bus.remote$.subscribe((batch) => this.enqueueRemote(batch));
    this.statsTimer = setInterval(() => this.sendStats(), STATS_INTERVAL_MS);
    this.statsTimer.unref();
    this.updateSubscription();
  }

  onModuleDestroy(): void {
    this.events?.unsubscribe();
    this.remoteEvents?.unsubscribe();
    clearInterval(this.statsTimer);
    clearTimeout(this.flushTimer);
  }

  /** Starts sending batches and stats to `socket` until it closes. */
  add(socket: WebSocket, id: string): void {
    this.monitors.set(socket, { id, dropped: 0, overSince: undefined });
    this.stream.monitorOpened();
    this.updateSubscription();
    socket.once('close', () => {
      this.monitors.delete(socket);
      this.stream.monitorClosed();
      this.updateSubscription();
    });
  }

  private updateSubscription(): void {
    const needed = this.monitors.size > 0 || this.publishing;
    if (needed && this.events === undefined) {
      this.events = this.stream.events$.subscribe((event) => this.enqueue(event));
    } else if (!needed && this.events !== undefined) {
      this.events.unsubscribe();
      this.events = undefined;
    }
  }

  /** Called per ingested frame: only queue it, no timer or I/O per event. */
  private enqueue(event: StreamEvent): void {
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
      this.local.map((event) => encodeEvent(event, Math.min(monitorEventMaxBytes, monitorFrameMaxBytes))),
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
      socket.send(encodeStats({ ...totals, dropped: state.dropped, ...(instance && { instance }) }));
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
