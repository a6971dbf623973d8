// CbsaClient: the API and the connection's state. Events go through a write-ahead queue (queue.ts)
// onto one resumable WebSocket (transport.ts); the server keeps each (stream, seq) once and says on
// every connect how far it got (`resume.last_seq`), so the client resends the rest after any fault
// without creating duplicates.
import type { CLOSE_TOKEN_EXPIRED } from '../../src/protocol/close-codes.js';
import type { RefreshRequest, RefreshReply } from '../../src/protocol/auth-frames.js';
import type {
  CLOSE_STREAM_RESUMED,
  INVALID_SEQ,
  ResumableReply,
  ResumeFrame,
} from '../../src/protocol/resume-frames.js';
import type { INVALID_TOKEN, MALFORMED_JSON, RATE_LIMIT_EXCEEDED } from '../../src/protocol/ingest-frames.js';
import type { QuarantinedFrame } from '../../src/protocol/quarantine-frames.js';
import { Backoff } from './backoff.js';
import { type Entry, WriteAheadQueue } from './queue.js';
import { MemoryStorage, type QueueStorage, type StorageEntry } from './storage.js';
import { claimStream, randomId, suffixed } from './stream-claim.js';
import {
  type Socket,
  type WebSocketConstructor,
  hasWebSocket,
  openSocket,
  refusedAs401,
  streamUrl,
  tokenClaims,
  tokenExpiry,
} from './transport.js';

/**
 * `stopped`: the server closed with a code this version does not know (4000–4999), e.g. a state a
 * newer service adds; the queue stays, and `reconnect()` tries again.
 */
export type Status =
  'connecting' | 'connected' | 'offline' | 'unauthorized' | 'replaced' | 'stopped' | 'closed';
export type DropReason = 'overflow' | 'too_large' | 'invalid_seq' | 'malformed' | 'tampered' | 'closed';

/**
 * An event the server confirmed: stored now (`received`), earlier (`duplicate`), or as told by a
 * resume frame (`resumed`); or stored in the quarantine log because it failed its category's schema
 * (`quarantined`, with the first schema `errors`). A quarantined event is confirmed too: a resend
 * would change nothing, so it is never retried.
 */
export interface Ack {
  seq: number;
  status: 'received' | 'duplicate' | 'resumed' | 'quarantined';
  message_id?: number;
  server_timestamp?: number;
  /** `quarantined` only: "<JSON pointer> <message>" per schema error. */
  errors?: string[];
}

/** An event given up on; `event` is its JSON text as queued (without `seq`). */
export interface Drop {
  seq: number;
  reason: DropReason;
  event: string;
}

/** The service claimed a `last_seq` above every seq this device ever gave on the stream. */
export interface Tamper {
  stream: string;
  lastSeq: number;
  highestSeq: number;
}

/** What `on(name, listener)` listeners get. */
export interface ClientEvents {
  ack: Ack;
  drop: Drop;
  status: Status;
  /** Storage failures, token provider failures, unknown close codes, and exceptions thrown by listeners. */
  error: unknown;
  tamper: Tamper;
}

export interface Stats {
  /** Events not yet confirmed, in flight and not yet written included. */
  queued: number;
  inflight: number;
  /** Events confirmed stored (received, quarantined, duplicate or covered by a resume frame). */
  acked: number;
  duplicates: number;
  dropped: number;
  reconnects: number;
  /** The highest seq given on this stream (0 before the first). */
  lastSeq: number;
  status: Status;
}

export interface CbsaClientOptions {
  /** The ingest endpoint, e.g. `wss://api.example.com/ws/behaviour`. */
  url: string;
  /** 1–200 characters of `[A-Za-z0-9._:@-]`; generated (and kept in `storage`) when absent. */
  stream?: string;
  /** A static token. */
  token?: string;
  /** Called before each connect and before the token's `exp`: returns a fresh token (JWT mode). */
  getToken?: () => Promise<string>;
  /** A WebSocket constructor (e.g. the `ws` package); defaults to `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Where the queue and the next seq live; defaults to a new MemoryStorage. */
  storage?: QueueStorage;
  /** Frames in flight at most (default 32). */
  window?: number;
  /** Queue bounds (default 10 000 events, 5 MiB of JSON text): past them the oldest waiting events are dropped. */
  maxQueue?: number;
  maxQueueBytes?: number;
  /** Reconnect backoff in ms (see backoff.ts): from `minDelay` (500) up to `maxDelay` (30 000), with full jitter. */
  minDelay?: number;
  maxDelay?: number;
  /** With frames in flight (or no resume frame yet), a socket silent this long (ms, default 20 000) is replaced. */
  ackTimeout?: number;
  onAck?: (ack: Ack) => void;
  onDrop?: (drop: Drop) => void;
  onStatus?: (status: Status) => void;
  onError?: (error: unknown) => void;
  onTamper?: (tamper: Tamper) => void;
}

type Settings = CbsaClientOptions &
  Required<
    Pick<CbsaClientOptions, 'window' | 'maxQueue' | 'maxQueueBytes' | 'minDelay' | 'maxDelay' | 'ackTimeout'>
  >;
type Listener<K extends keyof ClientEvents> = (value: ClientEvents[K]) => void;
type ServerFrame = ResumeFrame | RefreshReply | ResumableReply | QuarantinedFrame;

interface Waiter {
  upTo: number;
  resolve: (done: boolean) => void;
}

// Checked against the service's own constants: a change there fails the type check here.
const REPLACED: typeof CLOSE_STREAM_RESUMED = 4001;
const TOKEN_EXPIRED: typeof CLOSE_TOKEN_EXPIRED = 4003;
const BAD_SEQ: typeof INVALID_SEQ = 'Invalid seq';
const MALFORMED: typeof MALFORMED_JSON = 'Malformed JSON';
const RATE_LIMITED: typeof RATE_LIMIT_EXCEEDED = 'Rate limit exceeded';
const REFRESH_REFUSED: typeof INVALID_TOKEN = 'Invalid token';

const STREAM_ID = /^[A-Za-z0-9._:@-]{1,200}$/;
const ROOT = 'cbsa/';
const INSTALL = ROOT + '~'; // the generated base stream id ('~' cannot occur in one)

export class CbsaClient<E extends object = Record<string, unknown>> {
  private readonly settings: Settings;
  private readonly storage: QueueStorage;
  private readonly listeners: { [K in keyof ClientEvents]: Set<Listener<K>> } = {
    ack: new Set(),
    drop: new Set(),
    status: new Set(),
    error: new Set(),
    tamper: new Set(),
  };
  private starting: Promise<void>;
  private queue?: WriteAheadQueue;
  private stream = '';
  private release?: () => void;
  private sent = 0; // queue.entries[0..sent) went out on the current socket
  private cursor = 0; // the next reply is for entries[cursor]; entries[0..cursor) were refused
  private window: number;
  private grow = 0;
  private probeTo = 0; // after a 1009 close: one frame at a time up to this seq, to find the culprit
  private socket?: Socket;
  private attempt = 0; // bumped by every connect and hang-up: a late token or socket of an old one is ignored
  private opening = false; // waiting for a token
  private fresh?: string; // a token got at start, not yet used
  private live = false; // the resume frame arrived
  private tampered = false; // ...and claimed seqs this device never gave
  private heard = 0;
  private paused = false;
  private expiredInARow = 0;
  private readonly backoff: Backoff;
  private timer?: ReturnType<typeof setTimeout>;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private watchdog?: ReturnType<typeof setInterval>;
  private unwatch?: () => void;
  private stopped?: Status;
  private current: Status = 'offline';
  private waiters: Waiter[] = [];
  private counts = { acked: 0, duplicates: 0, dropped: 0, reconnects: -1 };
  private early = 0; // sends waiting for the storage to load

  constructor(options: CbsaClientOptions) {
    this.settings = {
      window: 32,
      maxQueue: 10_000,
      maxQueueBytes: 5 * 1024 * 1024,
      minDelay: 500,
      maxDelay: 30_000,
      ackTimeout: 20_000,
      ...options,
    };
    if (options.stream !== undefined && !STREAM_ID.test(options.stream)) {
      throw new TypeError('Invalid stream id');
    }
    if (!hasWebSocket(options.WebSocket))
      throw new TypeError('No global WebSocket: pass the WebSocket option');
    const { onAck, onDrop, onStatus, onError, onTamper } = options;
    if (onAck) this.on('ack', onAck);
    if (onDrop) this.on('drop', onDrop);
    if (onStatus) this.on('status', onStatus);
    if (onError) this.on('error', onError);
    if (onTamper) this.on('tamper', onTamper);
    this.settings.window = Math.max(1, Math.min(this.settings.window, this.settings.maxQueue));
    this.window = this.settings.window;
    this.backoff = new Backoff(this.settings.minDelay, this.settings.maxDelay);
    this.storage = options.storage ?? new MemoryStorage();
    this.starting = this.start(options.stream);
    this.unwatch = this.watch();
  }

  /** Resolves once the storage is loaded and the stream claimed. */
  get ready(): Promise<void> {
    return this.starting;
  }

  get stats(): Stats {
    const queue = this.queue;
    return {
      queued: (queue ? queue.entries.length + queue.waiting : 0) + this.early,
      inflight: this.sent - this.cursor,
      ...this.counts,
      reconnects: Math.max(0, this.counts.reconnects),
      lastSeq: queue?.highest ?? 0,
      status: this.current,
    };
  }

  /** The stream id in use ('' until the storage is loaded). */
  get streamId(): string {
    return this.stream;
  }

  on<K extends keyof ClientEvents>(name: K, listener: Listener<K>): this {
    this.listeners[name].add(listener);
    return this;
  }

  off<K extends keyof ClientEvents>(name: K, listener: Listener<K>): this {
    this.listeners[name].delete(listener);
    return this;
  }

  /**
   * Queues an event (a JSON object; its own `seq` key is replaced). Resolves with its seq once the
   * event and the next seq are written to the storage; rejects when that write fails or the client
   * is closed. Never waits for the network.
   */
  async send(event: E): Promise<number> {
    const body = JSON.stringify({ ...event, seq: undefined });
    if (body[0] !== '{') throw new TypeError('An event must be a JSON object');
    this.early++;
    await this.starting;
    this.early--;
    if (this.stopped === 'closed' || !this.queue) {
      this.counts.dropped++;
      this.emit('drop', { seq: 0, reason: 'closed', event: body });
      throw new Error('The client is closed');
    }
    return this.queue.add(body);
  }

  /** Resolves true when every event sent so far is confirmed or dropped; false after `timeout` ms, or when the client stops. */
  async flush(timeout = 30_000): Promise<boolean> {
    await this.starting;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeout);
      const finish = (done: boolean) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== mine);
        resolve(done);
      };
      const mine: Waiter = { upTo: this.queue?.highest ?? 0, resolve: finish };
      this.waiters.push(mine);
      this.settle();
      if (this.stopped && this.waiters.includes(mine)) finish(false);
    });
  }

  /** Flushes for up to `timeout` ms, then closes the socket and stops. Unconfirmed events stay in the storage. */
  async close(timeout = 10_000): Promise<void> {
    if (this.stopped !== 'closed') {
      if (!this.stopped) await this.flush(timeout);
      this.stop('closed');
      this.unwatch?.();
    }
    await this.queue?.settled();
    this.release?.();
    this.release = undefined;
  }

  /** Connects again now, whatever the state (after `unauthorized`, `replaced`, `stopped`, or to skip a backoff). */
  reconnect(token?: string): void {
    if (this.stopped === 'closed') return;
    if (token !== undefined) this.settings.token = token;
    this.stopped = undefined;
    this.hangUp();
    clearTimeout(this.timer);
    this.connect();
  }

  /**
   * At logout: forgets the queue (from the storage too) and starts a new stream: `stream`, else one
   * derived from the `stream` option or the JWT's `sub`, else a newly generated one. Sends made
   * meanwhile go to the new stream.
   */
  async reset(stream?: string): Promise<void> {
    if (stream !== undefined && !STREAM_ID.test(stream)) throw new TypeError('Invalid stream id');
    const previous = this.starting;
    this.starting = (async () => {
      await previous;
      const queue = this.queue;
      if (this.stopped === 'closed' || !queue) return;
      this.hangUp();
      clearTimeout(this.timer);
      this.queue = undefined;
      await queue.settled();
      while (queue.entries.length) queue.remove(0);
      await queue.settled();
      try {
        await this.storage.write([], [`${ROOT}${this.stream}/n`]);
      } catch (error) {
        this.report(error);
      }
      this.release?.();
      this.stopped = undefined;
      this.backoff.reset();
      const given = this.settings.stream;
      await this.start(stream ?? (given === undefined ? undefined : suffixed(given)), true);
    })();
    for (const waiter of [...this.waiters]) waiter.resolve(true);
    return this.starting;
  }

  private async start(given: string | undefined, fresh = false): Promise<void> {
    let entries: StorageEntry[] = [];
    try {
      entries = await this.storage.load(ROOT);
    } catch (error) {
      // The stored next seqs are unknown: only a stream never used before is safe to number from 1.
      this.report(error);
      if (given !== undefined) given = suffixed(given);
      fresh = true;
    }
    const streams = new Map<string, { next: number; queued: Entry[] }>();
    let install: string | undefined;
    for (const [key, value] of entries) {
      if (key === INSTALL) {
        install = value;
        continue;
      }
      const slash = key.lastIndexOf('/');
      const stream = key.slice(ROOT.length, slash);
      const rest = key.slice(slash + 1);
      const state = streams.get(stream) ?? { next: 1, queued: [] };
      streams.set(stream, state);
      if (rest === 'n') state.next = Math.max(state.next, Number(value) || 1);
      else if (Number(rest) > 0) state.queued.push({ seq: Number(rest), body: value });
    }
    let base = given;
    if (base === undefined) {
      // After reset() a new stream: in JWT mode still one of the subject's.
      const sub = await this.subject();
      base = sub !== undefined && fresh ? suffixed(sub) : sub;
    }
    const chosen = base !== undefined;
    const writes: StorageEntry[] = [];
    if (!base) {
      if (!install || fresh) writes.push([INSTALL, (install = `${Date.now().toString(36)}-${randomId(16)}`)]);
      base = install;
    }
    // After reset() nothing of before is taken over, not even a closed tab's queue.
    const queued = new Map(fresh ? [] : [...streams].map(([stream, state]) => [stream, state.queued.length]));
    const { stream, release } = await claimStream(this.storage.lockName ?? '', base, chosen, queued);
    this.stream = stream;
    this.release = release;
    const state = streams.get(stream) ?? { next: 1, queued: [] };
    state.queued.sort((first, second) => first.seq - second.seq);
    for (const entry of state.queued) state.next = Math.max(state.next, entry.seq + 1);
    const queue = new WriteAheadQueue(
      this.storage,
      `${ROOT}${stream}/`,
      state.next,
      () => this.queue === queue && this.onWritten(), // not after reset()
      (error) => this.report(error),
    );
    for (const entry of state.queued) {
      queue.entries.push(entry);
      queue.bytes += entry.body.length;
    }
    for (const [key, value] of writes) queue.put(key, value);
    this.queue = queue;
    this.trim();
    if (!this.stopped) this.connect();
  }

  /** JWT mode without a `stream` option: the token's `sub`, the stream its owner may write. */
  private async subject(): Promise<string | undefined> {
    let token = this.settings.token;
    try {
      // Kept for the first connect, which would otherwise ask again at once.
      token = this.fresh = (await this.settings.getToken?.()) ?? token;
    } catch (error) {
      this.report(error);
    }
    const sub = tokenClaims(token)?.sub;
    return typeof sub === 'string' && STREAM_ID.test(sub) ? sub : undefined;
  }

  /** Browsers: reconnect at once when the network comes back or the page is shown or hidden. */
  private watch(): (() => void) | undefined {
    type Target = {
      addEventListener(name: string, listener: () => void): void;
      removeEventListener(name: string, listener: () => void): void;
    };
    const page = globalThis as unknown as Partial<Target> & { document?: Target };
    const { document } = page;
    if (!page.addEventListener || !page.removeEventListener || !document) return undefined;
    const wake = () => this.wake();
    page.addEventListener('online', wake);
    document.addEventListener('visibilitychange', wake);
    return () => {
      page.removeEventListener!('online', wake);
      document.removeEventListener('visibilitychange', wake);
    };
  }

  /** The network may be back (or the app in the foreground): connect now unless connected or stopped. */
  wake(): void {
    if (this.stopped || this.live) return;
    this.hangUp();
    clearTimeout(this.timer);
    this.connect();
  }

  private onWritten(): void {
    this.trim();
    this.settle();
    this.pump();
  }

  /** Drops the oldest events not in flight while the queue is over a bound; the server sees the gap. */
  private trim(): void {
    const queue = this.queue!;
    while (
      (queue.entries.length > this.settings.maxQueue || queue.bytes > this.settings.maxQueueBytes) &&
      queue.entries.length > this.sent
    ) {
      this.drop(this.sent, 'overflow');
    }
  }

  private connect(): void {
    if (this.stopped || this.socket || this.opening || !this.queue) return;
    const attempt = ++this.attempt;
    this.opening = true;
    this.status('connecting');
    void this.open(attempt);
  }

  private async open(attempt: number): Promise<void> {
    let token = this.settings.token;
    if (this.settings.getToken) {
      try {
        token = this.fresh ?? (await this.settings.getToken());
        this.fresh = undefined;
      } catch (error) {
        this.report(error);
        if (attempt === this.attempt) {
          this.opening = false;
          this.retry();
        }
        return;
      }
      if (attempt !== this.attempt || this.stopped) return;
    }
    this.opening = false;
    const url = streamUrl(this.settings.url, this.stream);
    let socket: Socket;
    try {
      socket = openSocket(url, token, this.settings.WebSocket);
    } catch (error) {
      this.report(error);
      return this.retry();
    }
    this.socket = socket;
    let opened = false;
    let failure = '';
    this.heard = Date.now();
    socket.onopen = () => {
      opened = true;
      this.heard = Date.now();
    };
    socket.onmessage = (event) => {
      if (this.socket === socket) this.onFrame(String(event.data), socket, token);
    };
    socket.onerror = (event) => {
      const message = event?.message;
      failure = typeof message === 'string' ? message : '';
    };
    socket.onclose = (event) => {
      if (this.socket === socket) void this.onClose(event.code, event.reason, opened, failure, url, token);
    };
    clearInterval(this.watchdog);
    this.watchdog = setInterval(
      () => {
        if ((!this.live || this.sent > this.cursor) && Date.now() - this.heard > this.settings.ackTimeout) {
          this.hangUp();
          this.retry();
        }
      },
      Math.max(50, this.settings.ackTimeout / 4),
    );
  }

  private onFrame(text: string, socket: Socket, token: string | undefined): void {
    this.heard = Date.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if ('type' in frame) {
      if (frame.type === 'resume') return this.onResume(Number(frame.last_seq) || 0, socket, token);
      if (frame.type === 'refreshed') return this.scheduleRefresh(socket, frame.exp);
      return;
    }
    const queue = this.queue!;
    if (frame.status === 'error' && frame.message === REFRESH_REFUSED) {
      // The answer to a refresh frame, not to an event: the old token stands until it expires.
      return this.report(new Error('Token refresh refused: Invalid token'));
    }
    const entry = queue.entries[this.cursor];
    if (!this.live || !entry || this.cursor >= this.sent) return;
    if (frame.status === 'received' || frame.status === 'duplicate' || frame.status === 'quarantined') {
      if (frame.seq !== undefined && frame.seq !== entry.seq) {
        // Out of step with the server: a fresh connection and its resume frame put that right.
        this.hangUp();
        return this.retry();
      }
      this.sent--;
      if (frame.status === 'duplicate' && this.tampered) {
        // Below a forged last_seq: the service did not store it.
        this.drop(this.cursor, 'tampered');
      } else {
        queue.remove(this.cursor);
        this.counts.acked++;
        if (frame.status === 'duplicate') this.counts.duplicates++;
        this.backoff.reset();
        if (this.window < this.settings.window && ++this.grow >= this.window) {
          this.window++;
          this.grow = 0;
        }
        this.emit('ack', {
          seq: entry.seq,
          status: frame.status,
          message_id: 'message_id' in frame ? frame.message_id : undefined,
          server_timestamp: frame.server_timestamp,
          ...(frame.status === 'quarantined' && { errors: frame.errors }),
        });
      }
    } else if (frame.message === BAD_SEQ || frame.message === MALFORMED) {
      this.drop(this.cursor, frame.message === BAD_SEQ ? 'invalid_seq' : 'malformed');
      this.sent--;
    } else if (frame.message === RATE_LIMITED) {
      // Refused, so it stays queued; the later frames in flight come back refused too (or stored).
      this.cursor++;
      this.paused = true;
      this.window = Math.max(1, this.window >> 1);
      this.grow = 0;
    } else {
      // "Service unavailable" (or anything unknown): resume from last_seq on a new connection after backoff.
      this.hangUp();
      return this.retry();
    }
    if (this.paused && this.cursor === this.sent) {
      this.sent = this.cursor = 0;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.paused = false;
        this.pump();
      }, this.backoff.next());
    }
    this.settle();
    this.pump();
  }

  private onResume(last: number, socket: Socket, token: string | undefined): void {
    const queue = this.queue!;
    this.live = true;
    this.counts.reconnects++;
    this.expiredInARow = 0;
    this.tampered = last > queue.highest;
    if (this.tampered) {
      // Never believed: the queue is not confirmed and the numbering stays the device's own.
      this.emit('tamper', { stream: this.stream, lastSeq: last, highestSeq: queue.highest });
    } else {
      // Everything at or below last_seq is stored: confirmed without a resend.
      while (queue.entries.length && queue.entries[0].seq <= last) {
        const { seq } = queue.remove(0);
        this.counts.acked++;
        this.emit('ack', { seq, status: 'resumed' });
      }
    }
    if (!queue.entries.length) this.backoff.reset();
    this.status('connected');
    this.scheduleRefresh(socket, tokenExpiry(token));
    this.settle();
    this.pump();
  }

  /** With `getToken`: a fresh token goes out on the open socket a little before `exp` (unix seconds). */
  private scheduleRefresh(socket: Socket, exp: number | undefined): void {
    clearTimeout(this.refreshTimer);
    const { getToken } = this.settings;
    if (!getToken || exp === undefined) return;
    const left = exp * 1000 - Date.now();
    this.refreshTimer = setTimeout(
      () => {
        getToken().then(
          (token) => {
            if (this.socket !== socket || !this.live) return;
            const frame: RefreshRequest = { type: 'refresh', token };
            socket.send(JSON.stringify(frame));
          },
          (error: unknown) => this.report(error),
        );
      },
      Math.max(0, left - Math.min(30_000, left / 4)),
    );
  }

  private async onClose(
    code: number,
    reason: string | undefined,
    opened: boolean,
    failure: string,
    url: string,
    token: string | undefined,
  ): Promise<void> {
    const unanswered = this.sent - this.cursor;
    const queue = this.queue!;
    this.detach();
    if (code === REPLACED) return this.stop('replaced');
    if (code === TOKEN_EXPIRED) {
      if (!this.settings.getToken) return this.stop('unauthorized');
      // A new token at once; a second expiry in a row waits for the backoff.
      if (this.expiredInARow++ === 0) return this.connect();
      return this.retry();
    }
    if (code >= 4000 && code < 5000) {
      this.report(new Error(`Closed by the service with code ${code}${reason ? ` (${reason})` : ''}`));
      return this.stop('stopped');
    }
    if (code === 1009 && unanswered > 0) {
      const first = queue.entries[this.cursor];
      if (unanswered === 1 && first.seq <= this.probeTo) this.drop(this.cursor, 'too_large');
      else this.probeTo = queue.entries[this.cursor + unanswered - 1].seq;
    }
    if (code === 1008) this.window = Math.max(1, this.window >> 1);
    if (!opened && (await refusedAs401(failure, url, token, this.settings.ackTimeout))) {
      return this.stop('unauthorized');
    }
    this.settle();
    this.retry();
  }

  private pump(): void {
    const socket = this.socket;
    const entries = this.queue?.entries;
    if (!socket || !entries || !this.live || this.paused) return;
    while (this.sent < entries.length) {
      const entry = entries[this.sent];
      if (this.sent - this.cursor >= (entry.seq <= this.probeTo ? 1 : this.window)) break;
      if (this.sent === this.cursor) this.heard = Date.now();
      socket.send(
        entry.body.length > 2 ? `{"seq":${entry.seq},${entry.body.slice(1)}` : `{"seq":${entry.seq}}`,
      );
      this.sent++;
    }
  }

  private retry(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.status('offline');
    this.timer = setTimeout(() => this.connect(), this.backoff.next());
  }

  /** Forgets the current socket (closing it) and what was in flight on it. */
  private hangUp(): void {
    const socket = this.socket;
    this.detach();
    if (socket) {
      socket.onclose = socket.onmessage = null;
      socket.onerror = () => {}; // `ws` emits an error when a connecting socket is closed
      try {
        socket.close(1000);
      } catch {
        // already closed
      }
    }
  }

  private detach(): void {
    this.socket = undefined;
    this.attempt++;
    this.live = this.paused = this.tampered = false;
    this.sent = this.cursor = 0;
    this.opening = false;
    clearInterval(this.watchdog);
    clearTimeout(this.refreshTimer);
  }

  private stop(status: Status): void {
    if (this.stopped === 'closed') return; // close() is final, whatever a pending probe says
    this.stopped = status;
    clearTimeout(this.timer);
    this.hangUp();
    this.status(status);
    for (const waiter of [...this.waiters]) waiter.resolve(false);
  }

  private status(status: Status): void {
    if (this.current === status) return;
    this.current = status;
    this.emit('status', status);
  }

  private drop(index: number, reason: DropReason): void {
    const entry = this.queue!.remove(index);
    this.counts.dropped++;
    this.emit('drop', { seq: entry.seq, reason, event: entry.body });
  }

  /** Resolves the flush() calls whose events are all confirmed or dropped. */
  private settle(): void {
    const queue = this.queue;
    if (!queue) return;
    const head = queue.entries.length ? queue.entries[0].seq : Infinity;
    for (const waiter of [...this.waiters]) {
      if (Math.min(head, queue.firstUnwritten) > waiter.upTo) waiter.resolve(true);
    }
  }

  private emit<K extends keyof ClientEvents>(name: K, value: ClientEvents[K]): void {
    for (const listener of [...this.listeners[name]]) {
      try {
        listener(value);
      } catch (error) {
        if (name !== 'error') this.report(error);
      }
    }
  }

  private report(error: unknown): void {
    this.emit('error', error);
  }
}
