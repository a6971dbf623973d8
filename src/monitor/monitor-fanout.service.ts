// Fans events out to monitors in batches, one frame per flush (split at MONITOR_FRAME_MAX_BYTES),
// sends each monitor hello, the replay and its stats every
// second, and keeps a slow monitor from slowing ingest or growing memory. With Redis, each flush
// also publishes this instance's batch on the bus, and batches from other instances join the next
// local flush. MonitorGateway only hands sockets in (add) and they leave by closing.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import type { Subscription } from 'rxjs';
import { WebSocket } from 'ws';
import { AuthService } from '../auth/auth.service.js';
import { BusService, type RemoteBatch } from '../cluster/bus.service.js';
import { ClusterStatsService } from '../cluster/cluster-stats.service.js';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import {
  EMPTY_REPLAY_FRAME,
  type EventChunk,
  type Encoded,
  type EventsFrame,
  FLOW_MAP_PATH,
  type MonitorFrame,
  type RefusedClaim,
  chunkEvents,
  encodeAuthRefused,
  encodeEvent,
  encodeHello,
  encodeStats,
  eventsWithoutData,
  eventsFrames,
  mounted,
  splitEvents,
} from '../protocol/index.js';
import type { StreamEvent } from '../stream/stream-event.js';
import { MemoryStreamState } from '../stream/stream-state.js';
import { StreamService } from '../stream/stream.service.js';
import type { MonitorParams } from './monitor-params.js';
import { EventPolicy } from '../privacy/event-policy.service.js';
import { type Candidate, Sampler, matches, problemIndices, remoteCandidate } from './selection.js';

/**
 * Monitors that asked for the same sample and filter share one selection: one pick and one encoding
 * per flush, the same frames sent to each, so 100 sampled monitors cost about one plus the writes.
 */
interface Selection {
  key: string;
  params: MonitorParams;
  /** Present for ?sample=N. */
  sampler?: Sampler;
  members: number;
}

interface MonitorState {
  id: string;
  params: MonitorParams;
  /** Present for ?sample or ?filter. */
  selection?: Selection;
  dropped: number;
  /** When the socket's buffer first went over the limit; undefined while it is under. */
  overSince: number | undefined;
}

const STATS_INTERVAL_MS = 1000;
/**
 * After another instance says it opened its first monitor, every event is published for this long;
 * by then the cluster heartbeat (every second) carries that instance's monitor count.
 */
const WATCH_LEASE_MS = 5000;

/** Encoded events kept for replay: one local event, or one batch from another instance. */
interface ReplayChunk {
  count: number;
  text: string;
}

interface ReplayFrame {
  frame: Encoded<EventsFrame, Buffer>;
  count: number;
}

/** Every write to a monitor: only frames an encoder of protocol/ made. */
function send(socket: WebSocket, frame: Encoded<MonitorFrame> | Encoded<MonitorFrame, Buffer>): void {
  // Text frames: events frames are encoded to a Buffer once for every monitor.
  socket.send(frame, { binary: false });
}

/** A local event as a Candidate: encoded only once a sampled or filtered monitor picks it. */
class LocalCandidate implements Candidate {
  readonly error: boolean;
  readonly problem: boolean;
  readonly stream: string | undefined;
  readonly category: string | null;
  readonly clientId: string;
  readonly data: unknown;

  constructor(
    private readonly event: StreamEvent,
    private readonly maxBytes: number,
    private encoded: string | undefined,
    private readonly showData: boolean,
  ) {
    this.error = event.messageId === null && event.duplicate !== true;
    this.problem = this.error || event.duplicate === true || (event.gap ?? 0) > 0;
    this.stream = event.stream;
    this.category = event.route.category;
    this.clientId = event.clientId;
    // MONITOR_DATA=none: a ?filter on a data field matches nothing, so it cannot probe values either.
    this.data = showData ? event.value : undefined;
  }

  get text(): string {
    return (this.encoded ??= encodeEvent(this.event, this.maxBytes, this.showData));
  }
}

@Injectable()
export class MonitorFanout implements OnModuleInit, OnModuleDestroy {
  private readonly monitors = new Map<WebSocket, MonitorState>();
  private local: StreamEvent[] = [];
  private remote: RemoteBatch[] = [];
  private pendingCount = 0;
  private lastFlush = 0;
  /** The last MONITOR_REPLAY events (oldest first), whole batches for other instances' events. */
  private replay: ReplayChunk[] = [];
  private replayCount = 0;
  /** The full replay's frames, built once for every monitor that joins until the replay changes. */
  private replayFrames?: ReplayFrame[];
  /** Monitors with ?sample or ?filter: while 0, flushes build no per-event candidates. */
  private selective = 0;
  private readonly selections = new Map<string, Selection>();
  private droppedTotal = 0;
  private flushTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  /** Held only while events are needed, so StreamService skips RxJS when nobody watches. */
  private events?: Subscription;
  private remoteEvents?: Subscription;
  /** With the Redis bus, other instances' monitors need this instance's events. */
  private readonly publishing: boolean;
  private watchers?: Subscription;
  /** Until then another instance is known to have a monitor (its announcement). */
  private watchedUntil = 0;
  /** MONITOR_DATA is not none: events carry their data. */
  private readonly showData: boolean;
  /** Refused stream claims (already rate-limited by AuthService), sent with the next stats. */
  private refusedClaims: RefusedClaim[] = [];
  private claimsSubscription?: Subscription;

  constructor(
    private readonly stream: StreamService,
    private readonly bus: BusService,
    private readonly cluster: ClusterStatsService,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
    private readonly lifecycle: LifecycleService,
    private readonly auth: AuthService,
    private readonly state: MemoryStreamState,
    private readonly policy: EventPolicy,
  ) {
    logger.setContext(MonitorFanout.name);
    this.publishing = bus.enabled;
    this.showData = cfg.monitorData !== 'none';
    metrics.counter(
      'cbsa_monitor_events_dropped_total',
      'Events not sent to monitors that were over MONITOR_MAX_BUFFER_BYTES',
      () => this.droppedTotal,
    );
  }

  onModuleInit(): void {
    this.remoteEvents = this.bus.remote$.subscribe((batch) => this.enqueueRemote(batch));
    this.watchers = this.bus.watchers$.subscribe(() => (this.watchedUntil = Date.now() + WATCH_LEASE_MS));
    this.claimsSubscription = this.auth.claims$.subscribe((claim) => {
      if (this.monitors.size > 0) this.refusedClaims.push(claim);
    });
    this.statsTimer = setInterval(() => {
      this.sendStats();
      this.sendRefusedClaims();
    }, STATS_INTERVAL_MS);
    this.statsTimer.unref();
    this.updateSubscription();
  }

  onModuleDestroy(): void {
    this.events?.unsubscribe();
    this.remoteEvents?.unsubscribe();
    this.watchers?.unsubscribe();
    this.claimsSubscription?.unsubscribe();
    clearInterval(this.statsTimer);
    clearTimeout(this.flushTimer);
  }

  /** The integrity panel's refused stream claims: one frame a second at most, to every monitor. */
  private sendRefusedClaims(): void {
    if (this.refusedClaims.length === 0) return;
    const frame = encodeAuthRefused(this.refusedClaims);
    this.refusedClaims = [];
    for (const socket of this.monitors.keys()) {
      if (socket.readyState === WebSocket.OPEN) send(socket, frame);
    }
  }

  /** Sends hello and the replay, then batches and stats to `socket` until it closes. */
  add(socket: WebSocket, id: string, params: MonitorParams = {}): void {
    send(
      socket,
      encodeHello({
        app: { name: this.cfg.appName, version: this.cfg.version },
        started_at: this.lifecycle.startedAt,
        flow_map: mounted(this.cfg, FLOW_MAP_PATH),
        endpoints: {
          ingest: mounted(this.cfg, this.cfg.websocketEndpoint),
          monitor: mounted(this.cfg, this.cfg.monitorEndpoint),
          flow_map: mounted(this.cfg, FLOW_MAP_PATH),
        },
        nodes: this.cluster.view().nodes,
        replay: { events: this.cfg.monitorReplay, scope: this.publishing ? 'cluster' : 'instance' },
        ...((this.cfg.monitorData !== 'full' || this.policy.enabled) && {
          privacy: {
            monitor_data: this.cfg.monitorData,
            ...(this.policy.version !== undefined && { policy_version: this.policy.version }),
          },
        }),
      }),
    );
    let dropped = 0;
    if (this.cfg.monitorReplay > 0) {
      // Events already acked but not yet flushed belong in the replay: flush them now (to the
      // monitors already connected too), so the replay and the live stream neither miss nor repeat.
      if (this.pendingCount > 0) this.flush();
      const frames =
        params.filter === undefined
          ? (this.replayFrames ??= this.encodeReplay())
          : this.encodeReplay(params.filter);
      // The replay counts against MONITOR_MAX_BUFFER_BYTES like live frames: a monitor that does
      // not read costs at most that, however large the replay. The frames of the full replay are
      // shared by every monitor (one copy in memory, not one per monitor).
      for (const { frame, count } of frames) {
        if (socket.bufferedAmount > this.cfg.monitorMaxBufferBytes) dropped += count;
        else send(socket, frame);
      }
      this.droppedTotal += dropped;
    }
    const selection = this.join(params);
    if (this.monitors.size === 0 && this.publishing) this.bus.announceMonitor();
    this.monitors.set(socket, { id, params, selection, dropped, overSince: undefined });
    if (selection) this.selective++;
    this.stream.monitorOpened();
    this.updateSubscription();
    socket.once('close', () => {
      this.monitors.delete(socket);
      if (selection) {
        this.selective--;
        if (--selection.members === 0) this.selections.delete(selection.key);
      }
      this.stream.monitorClosed();
      this.updateSubscription();
    });
  }

  /**
   * The replay as frames, each with its event count; filtered ones hold only matching events
   * (sampling does not apply: the replay is small). Always one frame, empty when there is nothing
   * yet: the page knows history is complete.
   */
  private encodeReplay(filter?: MonitorParams['filter']): ReplayFrame[] {
    let texts = this.replay.map((c) => c.text);
    if (filter !== undefined) {
      texts = this.replay
        .flatMap((c) => (c.count === 1 ? [c.text] : splitEvents(c.text)))
        .map(remoteCandidate)
        .filter((c): c is Candidate => c !== undefined && matches(c, filter))
        .map((c) => c.text);
    }
    const max = this.cfg.monitorFrameMaxBytes;
    // chunkEvents already cut at the frame size: one frame per chunk, so each knows its count.
    const frames = chunkEvents(texts, max).map((chunk) => ({
      frame: eventsFrames([chunk], max, { replay: true })[0],
      count: chunk.count,
    }));
    if (frames.length === 0) frames.push({ frame: EMPTY_REPLAY_FRAME, count: 0 });
    return frames;
  }

  /** The shared selection for these parameters (created on first use); undefined for the full stream. */
  private join(params: MonitorParams): Selection | undefined {
    if (params.sample === undefined && params.filter === undefined) return undefined;
    const key = JSON.stringify([params.sample ?? null, params.filter ?? null]);
    let selection = this.selections.get(key);
    if (selection === undefined) {
      const sampler =
        params.sample === undefined ? undefined : new Sampler(params.sample, this.cfg.monitorFlushMs);
      selection = { key, params, sampler, members: 0 };
      this.selections.set(key, selection);
    }
    selection.members++;
    return selection;
  }

  private updateSubscription(): void {
    // Replay needs the last events even while nobody watches (MONITOR_REPLAY=0 gives that cost back).
    const needed = this.monitors.size > 0 || this.publishing || this.cfg.monitorReplay > 0;
    if (needed && this.events === undefined) {
      this.events = this.stream.events$.subscribe((event) => this.enqueue(event));
    } else if (!needed && this.events !== undefined) {
      this.events.unsubscribe();
      this.events = undefined;
    }
  }

  /** Called per ingested frame: only queue it, no timer or I/O per event. */
  private enqueue(event: StreamEvent): void {
    const length = this.local.push(event);
    if (this.monitors.size === 0 && !this.publishing) {
      // Nobody watches and nothing is published: only the replay's newest events matter. The queue
      // never holds more than twice MONITOR_REPLAY (events die young instead of piling up for a
      // flush interval) and no flush is scheduled: the next monitor's add() flushes it into the
      // replay first. At full rate this is the difference between 0.9x and 1.0x of bare ws.
      if (length >= 2 * this.cfg.monitorReplay)
        this.local = this.local.slice(length - this.cfg.monitorReplay);
      this.pendingCount = this.local.length;
      return;
    }
    this.pendingCount++;
    this.schedule();
  }

  private enqueueRemote(batch: RemoteBatch): void {
    if (this.monitors.size === 0 && this.cfg.monitorReplay === 0) return;
    // Another instance configured differently must not show this one's monitors any event data.
    if (!this.showData) batch = eventsWithoutData(batch.events);
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
      this.flushTimer = setTimeout(() => this.flushWhenDue(), this.cfg.monitorFlushMs);
    }
  }

  /**
   * A timer set during a long event-loop turn counts from that turn's cached start, so it can fire
   * well under MONITOR_FLUSH_MS after the last flush. Flushes stay at least that far apart (by the
   * clock samplers read), so 1000 / MONITOR_FLUSH_MS flushes never overrun a sample's budget.
   */
  private flushWhenDue(): void {
    const wait = this.lastFlush + this.cfg.monitorFlushMs - Date.now();
    if (wait > 0) this.flushTimer = setTimeout(() => this.flushWhenDue(), wait);
    else this.flush();
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.lastFlush = Date.now();
    const count = this.pendingCount;
    if (count === 0) return;
    const { monitorEventMaxBytes, monitorFrameMaxBytes } = this.cfg;
    const maxEventBytes = Math.min(monitorEventMaxBytes, monitorFrameMaxBytes);
    // Every event is encoded only for a full-stream monitor, here or on another instance (the bus).
    // Otherwise only the events the replay keeps are (and published, for the other instances'
    // replays), and a sampled or filtered monitor's picks are encoded when picked. With no monitor
    // anywhere, encoding and publishing every event was about a tenth of SINK=redis-stream's CPU.
    const everyEvent = this.monitors.size > this.selective || (this.publishing && this.othersWatch());
    const replay = this.cfg.monitorReplay;
    const keep = everyEvent ? this.local : replay === 0 ? [] : this.local.slice(-replay);
    const encoded = keep.map((event) => encodeEvent(event, maxEventBytes, this.showData));
    const local = chunkEvents(encoded, monitorFrameMaxBytes);
    if (this.publishing) for (const chunk of local) this.bus.publish(chunk.events, chunk.count);
    const remote = this.remote.map((b) => ({ ...b, bytes: Buffer.byteLength(b.events) }));
    this.remember(encoded, this.remote);
    const candidates =
      this.selective > 0 ? this.candidates(this.local, encoded, this.remote, maxEventBytes) : [];
    let problems: number[] | undefined;
    this.local = [];
    this.remote = [];
    this.pendingCount = 0;
    if (this.monitors.size === 0) return;
    // Several frames when the batch is large: each stays under MONITOR_FRAME_MAX_BYTES.
    let full: Encoded<EventsFrame, Buffer>[] | undefined;
    const selected = new Map<Selection, { frames: Encoded<EventsFrame, Buffer>[]; size: number }>();
    for (const [socket, state] of this.monitors) {
      let frames: Encoded<EventsFrame, Buffer>[];
      let size = count;
      const selection = state.selection;
      if (selection === undefined) {
        frames = full ??= eventsFrames([...local, ...remote], monitorFrameMaxBytes);
      } else {
        let out = selected.get(selection);
        if (out === undefined) {
          const { filter } = selection.params;
          const matching = filter === undefined ? candidates : candidates.filter((c) => matches(c, filter));
          // Unfiltered sampled selections share one scan for problems per flush.
          const shared = filter === undefined ? (problems ??= problemIndices(candidates)) : undefined;
          const sampler = selection.sampler;
          const chosen = sampler ? sampler.pick(matching, this.lastFlush, shared) : matching;
          const chunks: EventChunk[] = chunkEvents(
            chosen.map((c) => c.text),
            monitorFrameMaxBytes,
          );
          const fields = sampler ? { sampled_from: matching.length } : {};
          out = { frames: eventsFrames(chunks, monitorFrameMaxBytes, fields), size: chosen.length };
          selected.set(selection, out);
        }
        ({ frames, size } = out);
        if (size === 0) continue;
      }
      if (this.isBackedUp(socket, state, this.lastFlush)) {
        state.dropped += size;
        this.droppedTotal += size;
      } else {
        for (const frame of frames) send(socket, frame);
      }
    }
  }

  /** Whether a monitor on another instance needs every event of this one. */
  private othersWatch(): boolean {
    return Date.now() < this.watchedUntil || this.cluster.othersMonitoring();
  }

  /**
   * This flush's events with the fields filters and sampling read; only built for such monitors.
   * `encoded` holds the last encoded.length local events already encoded.
   */
  private candidates(
    local: StreamEvent[],
    encoded: string[],
    remote: RemoteBatch[],
    maxEventBytes: number,
  ): Candidate[] {
    const offset = local.length - encoded.length;
    const out: Candidate[] = local.map(
      (event, i) =>
        new LocalCandidate(
          event,
          maxEventBytes,
          i >= offset ? encoded[i - offset] : undefined,
          this.showData,
        ),
    );
    for (const batch of remote) {
      for (const text of splitEvents(batch.events)) {
        const candidate = remoteCandidate(text);
        if (candidate !== undefined) out.push(candidate);
      }
    }
    return out;
  }

  /** Keeps the newest MONITOR_REPLAY events; other instances' batches are kept or dropped whole. */
  private remember(local: string[], remote: RemoteBatch[]): void {
    const limit = this.cfg.monitorReplay;
    if (limit === 0 || (local.length === 0 && remote.length === 0)) return;
    this.replayFrames = undefined;
    // The same order as the live frame: this instance's events, then other instances' batches.
    for (const text of local) this.replay.push({ count: 1, text });
    for (const batch of remote) this.replay.push({ count: batch.count, text: batch.events });
    this.replayCount += local.length;
    for (const batch of remote) this.replayCount += batch.count;
    let drop = 0;
    while (drop < this.replay.length && this.replayCount - this.replay[drop].count >= limit) {
      this.replayCount -= this.replay[drop].count;
      drop++;
    }
    // A single batch larger than the limit is still dropped: the replay never exceeds it.
    if (drop < this.replay.length && this.replayCount > limit && this.replay[drop].count > 1) {
      this.replayCount -= this.replay[drop].count;
      drop++;
    }
    if (drop > 0) this.replay.splice(0, drop);
  }

  private sendStats(): void {
    if (this.monitors.size === 0) return;
    const { totals, instance, members, nodes } = this.cluster.view();
    const evictions = this.state.evictions;
    const now = Date.now();
    for (const [socket, state] of this.monitors) {
      if (this.isBackedUp(socket, state, now)) continue;
      send(
        socket,
        encodeStats({
          ...totals,
          dropped: state.dropped,
          state_evictions: evictions,
          ...(instance && { instance }),
          ...(members && { instances: members }),
          nodes,
        }),
      );
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
