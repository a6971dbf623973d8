// CbsaClient: a queue of numbered events streamed over one resumable WebSocket. Every event gets a
// seq; the server keeps each (stream, seq) once and says on every connect how far it got
// (`resume.last_seq`), so the client resends the rest after any fault without creating duplicates.
import { MemoryStorage, type QueueStorage, type StorageEntry } from './storage.js';

export type Status = 'connecting' | 'connected' | 'offline' | 'unauthorized' | 'replaced' | 'closed';
export type DropReason = 'overflow' | 'too_large' | 'invalid_seq' | 'malformed' | 'closed';

/** An event the server confirmed: stored now (`received`), earlier (`duplicate`), or as told by a resume frame (`resumed`). */
export interface Ack {
  seq: number;
  status: 'received' | 'duplicate' | 'resumed';
  message_id?: number;
  server_timestamp?: number;
}

/** An event given up on; `event` is its JSON text as queued (without `seq`). */
export interface Drop {
  seq: number;
  reason: DropReason;
  event: string;
}

export interface Stats {
  /** Events not yet confirmed, in flight included. */
  queued: number;
  inflight: number;
  /** Events confirmed stored (received, duplicate or covered by a resume frame). */
  acked: number;
  duplicates: number;
  dropped: number;
  reconnects: number;
  /** The seq given to the latest event (0 before the first). */
  lastSeq: number;
  status: Status;
}

export interface CbsaClientOptions {
  /** The ingest endpoint, e.g. `wss://api.example.com/ws/behaviour`. */
  url: string;
  /** 1–200 characters of `[A-Za-z0-9._:@-]`; generated (and kept in `storage`) when absent. */
  stream?: string;
  /** Sent as `?token=`. */
  token?: string;
  /** A WebSocket constructor (e.g. the `ws` package); defaults to `globalThis.WebSocket`. */
  WebSocket?: new (url: string) => unknown;
  /** Where the queue and the next seq live; defaults to a new MemoryStorage. */
  storage?: QueueStorage;
  /** Frames in flight at most (default 32). */
  window?: number;
  /** Queue bounds (default 10 000 events, 5 MiB of JSON text): past them the oldest waiting events are dropped. */
  maxQueue?: number;
  maxQueueBytes?: number;
  /** Reconnect backoff in ms: exponential with full jitter, from `minDelay` (500) up to `maxDelay` (30 000). */
  minDelay?: number;
  maxDelay?: number;
  /** With frames in flight (or no resume frame yet), a socket silent this long (ms, default 20 000) is replaced. */
  ackTimeout?: number;
  onAck?: (ack: Ack) => void;
  onDrop?: (drop: Drop) => void;
  onStatus?: (status: Status) => void;
  /** Storage failures and exceptions thrown by the callbacks above. */
  onError?: (error: unknown) => void;
}

interface Entry {
  seq: number;
  /** The event's JSON text without `seq`; the frame is this with `"seq":S` spliced in first. */
  body: string;
}

interface Reply {
  type?: string;
  status?: string;
  message?: string;
  seq?: number;
  last_seq?: number;
  message_id?: number;
  server_timestamp?: number;
}

interface Socket {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

interface Waiter {
  upTo: number;
  resolve: (done: boolean) => void;
}

const STREAM_ID = /^[A-Za-z0-9._:@-]{1,200}$/;
const ROOT = 'cbsa/';
const CURRENT = ROOT + '~'; // the generated stream id ('~' cannot occur in one)
const NEXT = 'n';

function newStreamId(): string {
  let id = Date.now().toString(36) + '-';
  for (let i = 0; i < 4; i++) id += Math.random().toString(36).slice(2, 8);
  return id;
}

export class CbsaClient {
  /** Resolves once the stored queue is loaded; `send` returns 0 before that (async storage only). */
  readonly ready: Promise<void>;
  private readonly o: Required<
    Pick<CbsaClientOptions, 'window' | 'maxQueue' | 'maxQueueBytes' | 'minDelay' | 'maxDelay' | 'ackTimeout'>
  > &
    CbsaClientOptions;
  private readonly storage: QueueStorage;
  private stream = '';
  private prefix = '';
  private loaded = false;
  private early: string[] = []; // events sent before the storage was loaded
  private q: Entry[] = [];
  private bytes = 0;
  private next = 1;
  private sent = 0; // q[0..sent) went out on the current socket
  private cursor = 0; // the next reply is for q[cursor]; q[0..cursor) were refused
  private win: number;
  private grow = 0;
  private probeTo = 0; // after a 1009 close: one frame at a time up to this seq, to find the culprit
  private ws?: Socket;
  private live = false; // the resume frame arrived
  private heard = 0;
  private attempt = 0;
  private paused = false;
  private timer?: ReturnType<typeof setTimeout>;
  private watchdog?: ReturnType<typeof setInterval>;
  private stopped?: Status;
  private st: Status = 'offline';
  private waiters: Waiter[] = [];
  private sets = new Map<string, string>();
  private dels = new Set<string>();
  private writing?: Promise<void>;
  private counts = { acked: 0, duplicates: 0, dropped: 0, reconnects: -1 };

  constructor(options: CbsaClientOptions) {
    this.o = {
      window: 32,
      maxQueue: 10_000,
      maxQueueBytes: 5 * 1024 * 1024,
      minDelay: 500,
      maxDelay: 30_000,
      ackTimeout: 20_000,
      ...options,
    };
    if (options.stream !== undefined && !STREAM_ID.test(options.stream))
      throw new TypeError('Invalid stream id');
    if (!options.WebSocket && !(globalThis as { WebSocket?: unknown }).WebSocket) {
      throw new TypeError('No global WebSocket: pass the WebSocket option');
    }
    this.o.window = Math.max(1, Math.min(this.o.window, this.o.maxQueue));
    this.win = this.o.window;
    this.storage = options.storage ?? new MemoryStorage();
    const given = options.stream;
    const loading = this.storage.load(given ? `${ROOT}${given}/` : ROOT);
    const init = (entries: StorageEntry[]) => this.init(entries, given);
    if (Array.isArray(loading)) {
      init(loading);
      this.ready = Promise.resolve();
    } else {
      this.ready = loading.then(init, (error: unknown) => {
        this.report(error);
        init([]);
      });
    }
  }

  get stats(): Stats {
    return {
      queued: this.q.length + this.early.length,
      inflight: this.sent - this.cursor,
      ...this.counts,
      reconnects: Math.max(0, this.counts.reconnects),
      lastSeq: this.next - 1,
      status: this.st,
    };
  }

  /** The stream id in use ('' until the storage is loaded, when it is generated). */
  get streamId(): string {
    return this.stream;
  }

  /** Queues an event (any JSON object; its own `seq` key is replaced) and returns its seq. Never throws while offline. */
  send(event: Record<string, unknown>): number {
    const body = JSON.stringify({ ...event, seq: undefined });
    if (body[0] !== '{') throw new TypeError('An event must be a JSON object');
    if (this.stopped === 'closed') {
      this.counts.dropped++;
      this.emit(this.o.onDrop, { seq: 0, reason: 'closed', event: body });
      return 0;
    }
    if (!this.loaded) {
      this.early.push(body);
      return 0;
    }
    return this.enqueue(body);
  }

  /** Resolves true when every event queued so far is confirmed or dropped; false after `timeout` ms, or when the client stops. */
  async flush(timeout = 30_000): Promise<boolean> {
    await this.ready;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeout);
      const finish = (done: boolean) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(done);
      };
      const waiter: Waiter = { upTo: this.next - 1, resolve: finish };
      this.waiters.push(waiter);
      this.settle();
      if (this.stopped && this.waiters.includes(waiter)) finish(false);
    });
  }

  /** Flushes for up to `timeout` ms, then closes the socket and stops. Unconfirmed events stay in the storage. */
  async close(timeout = 10_000): Promise<void> {
    if (this.stopped !== 'closed') {
      if (!this.stopped) await this.flush(timeout);
      this.stop('closed');
    }
    while (this.writing || this.sets.size || this.dels.size) await (this.writing ?? this.persist());
  }

  /** Starts connecting again after `unauthorized` or `replaced`, optionally with a new token. */
  reconnect(token?: string): void {
    if (this.stopped === 'closed') return;
    if (token !== undefined) this.o.token = token;
    this.stopped = undefined;
    this.attempt = 0;
    this.hangUp();
    clearTimeout(this.timer);
    if (this.loaded) this.connect();
  }

  private init(entries: StorageEntry[], given: string | undefined): void {
    let stream = given;
    if (!stream) {
      stream = entries.find(([key]) => key === CURRENT)?.[1] ?? newStreamId();
      this.put(CURRENT, stream);
    }
    this.stream = stream;
    this.prefix = `${ROOT}${stream}/`;
    for (const [key, value] of entries) {
      if (!key.startsWith(this.prefix)) continue;
      const rest = key.slice(this.prefix.length);
      if (rest === NEXT) this.next = Math.max(this.next, Number(value));
      else if (Number(rest) > 0) this.q.push({ seq: Number(rest), body: value });
    }
    this.q.sort((a, b) => a.seq - b.seq);
    for (const e of this.q) {
      this.bytes += e.body.length;
      this.next = Math.max(this.next, e.seq + 1);
    }
    this.loaded = true;
    for (const body of this.early.splice(0)) this.enqueue(body);
    this.trim();
    if (!this.stopped) this.connect();
  }

  private enqueue(body: string): number {
    const seq = this.next++;
    this.q.push({ seq, body });
    this.bytes += body.length;
    this.put(this.prefix + seq, body);
    this.put(this.prefix + NEXT, String(this.next));
    this.trim();
    this.pump();
    return seq;
  }

  /** Drops the oldest events not in flight while the queue is over a bound; the server sees the gap. */
  private trim(): void {
    while (
      (this.q.length > this.o.maxQueue || this.bytes > this.o.maxQueueBytes) &&
      this.q.length > this.sent
    ) {
      this.drop(this.sent, 'overflow');
    }
  }

  private connect(): void {
    if (this.stopped || this.ws) return;
    this.status('connecting');
    const { url, token } = this.o;
    const full = `${url}${url.includes('?') ? '&' : '?'}stream=${encodeURIComponent(this.stream)}${token ? `&token=${encodeURIComponent(token)}` : ''}`;
    let ws: Socket;
    try {
      const Ctor = (this.o.WebSocket ??
        (globalThis as { WebSocket?: new (url: string) => unknown }).WebSocket)!;
      ws = new Ctor(full) as Socket;
    } catch (error) {
      this.report(error);
      return this.retry();
    }
    this.ws = ws;
    let opened = false;
    let failure = '';
    this.heard = Date.now();
    ws.onopen = () => {
      opened = true;
      this.heard = Date.now();
    };
    ws.onmessage = (event) => {
      if (this.ws === ws) this.onFrame(String(event.data));
    };
    ws.onerror = (event) => {
      const message = event?.message;
      failure = typeof message === 'string' ? message : '';
    };
    ws.onclose = (event) => {
      if (this.ws === ws) void this.onClose(event.code, opened, failure, full);
    };
    clearInterval(this.watchdog);
    this.watchdog = setInterval(
      () => {
        if ((!this.live || this.sent > this.cursor) && Date.now() - this.heard > this.o.ackTimeout) {
          this.hangUp();
          this.retry();
        }
      },
      Math.max(50, this.o.ackTimeout / 4),
    );
  }

  private onFrame(text: string): void {
    this.heard = Date.now();
    let m: Reply;
    try {
      m = JSON.parse(text) as Reply;
    } catch {
      return;
    }
    if (m.type === 'resume') return this.onResume(Number(m.last_seq) || 0);
    const e = this.q[this.cursor];
    if (!this.live || !e || this.cursor >= this.sent) return;
    if (m.status === 'received' || m.status === 'duplicate') {
      if (m.seq !== undefined && m.seq !== e.seq) {
        // Out of step with the server: a fresh connection and its resume frame put that right.
        this.hangUp();
        return this.retry();
      }
      this.remove(this.cursor);
      this.sent--;
      this.counts.acked++;
      if (m.status === 'duplicate') this.counts.duplicates++;
      this.attempt = 0;
      if (this.win < this.o.window && ++this.grow >= this.win) {
        this.win++;
        this.grow = 0;
      }
      this.emit(this.o.onAck, {
        seq: e.seq,
        status: m.status,
        message_id: m.message_id,
        server_timestamp: m.server_timestamp,
      });
    } else if (m.message === 'Invalid seq' || m.message === 'Malformed JSON') {
      this.drop(this.cursor, m.message === 'Invalid seq' ? 'invalid_seq' : 'malformed');
      this.sent--;
    } else if (m.message === 'Rate limit exceeded') {
      // Refused, so it stays queued; the later frames in flight come back refused too (or stored).
      this.cursor++;
      this.paused = true;
      this.win = Math.max(1, this.win >> 1);
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
      }, this.delay());
    }
    this.settle();
    this.pump();
  }

  private onResume(last: number): void {
    this.live = true;
    this.counts.reconnects++;
    // Everything at or below last_seq is stored: confirmed without a resend.
    while (this.q.length && this.q[0].seq <= last) {
      const { seq } = this.q[0];
      this.remove(0);
      this.counts.acked++;
      this.emit(this.o.onAck, { seq, status: 'resumed' });
    }
    if (last >= this.next) {
      this.next = last + 1;
      this.put(this.prefix + NEXT, String(this.next));
    }
    if (!this.q.length) this.attempt = 0;
    this.status('connected');
    this.settle();
    this.pump();
  }

  private async onClose(code: number, opened: boolean, failure: string, url: string): Promise<void> {
    const unanswered = this.sent - this.cursor;
    this.detach();
    if (code === 4001) return this.stop('replaced');
    if (code === 1009 && unanswered > 0) {
      const first = this.q[this.cursor];
      if (unanswered === 1 && first.seq <= this.probeTo) this.drop(this.cursor, 'too_large');
      else this.probeTo = this.q[this.cursor + unanswered - 1].seq;
    }
    if (code === 1008) this.win = Math.max(1, this.win >> 1);
    if (!opened && (await this.unauthorized(failure, url))) return this.stop('unauthorized');
    this.settle();
    this.retry();
  }

  /**
   * A refused upgrade: `ws` and React Native name the HTTP status in the error; browsers and undici do
   * not, so ask with a plain GET on the same URL (the service answers what an upgrade would get).
   */
  private async unauthorized(failure: string, url: string): Promise<boolean> {
    if (/\b401\b/.test(failure)) return true;
    const fetcher = (globalThis as { fetch?: (url: string) => Promise<{ status: number }> }).fetch;
    if (/\b[1-5]\d\d\b/.test(failure) || !fetcher) return false;
    // Bounded: a probe that hangs (a proxy holding the request) must not stall reconnecting. The bound
    // is cleared once the probe answers, or it would keep a Node process alive for ackTimeout.
    let bound: ReturnType<typeof setTimeout>;
    const late = new Promise<boolean>(
      (resolve) => (bound = setTimeout(() => resolve(false), this.o.ackTimeout)),
    );
    const probe = fetcher(url.replace(/^ws/, 'http')).then(
      (res) => res.status === 401,
      () => false,
    );
    return Promise.race([probe, late]).finally(() => clearTimeout(bound));
  }

  private pump(): void {
    const ws = this.ws;
    if (!ws || !this.live || this.paused) return;
    while (this.sent < this.q.length) {
      const e = this.q[this.sent];
      if (this.sent - this.cursor >= (e.seq <= this.probeTo ? 1 : this.win)) break;
      if (this.sent === this.cursor) this.heard = Date.now();
      ws.send(e.body.length > 2 ? `{"seq":${e.seq},${e.body.slice(1)}` : `{"seq":${e.seq}}`);
      this.sent++;
    }
  }

  private delay(): number {
    return Math.random() * Math.min(this.o.maxDelay, this.o.minDelay * 2 ** this.attempt++);
  }

  private retry(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.status('offline');
    this.timer = setTimeout(() => this.connect(), this.delay());
  }

  /** Forgets the current socket (closing it) and what was in flight on it. */
  private hangUp(): void {
    const ws = this.ws;
    this.detach();
    if (ws) {
      ws.onclose = ws.onmessage = null;
      ws.onerror = () => {}; // `ws` emits an error when a connecting socket is closed
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
  }

  private detach(): void {
    this.ws = undefined;
    this.live = this.paused = false;
    this.sent = this.cursor = 0;
    clearInterval(this.watchdog);
  }

  private stop(status: Status): void {
    if (this.stopped === 'closed') return; // close() is final, whatever a pending probe says
    this.stopped = status;
    clearTimeout(this.timer);
    this.hangUp();
    this.status(status);
    for (const w of [...this.waiters]) w.resolve(false);
  }

  private status(status: Status): void {
    if (this.st === status) return;
    this.st = status;
    this.emit(this.o.onStatus, status);
  }

  private remove(i: number): Entry {
    const [e] = i ? this.q.splice(i, 1) : [this.q.shift()!];
    this.bytes -= e.body.length;
    const key = this.prefix + e.seq;
    if (!this.sets.delete(key)) {
      this.dels.add(key);
      this.schedule();
    }
    return e;
  }

  private drop(i: number, reason: DropReason): void {
    const e = this.remove(i);
    this.counts.dropped++;
    this.emit(this.o.onDrop, { seq: e.seq, reason, event: e.body });
  }

  /** Resolves the flush() calls whose events are all confirmed or dropped. */
  private settle(): void {
    const head = this.q.length ? this.q[0].seq : Infinity;
    for (const w of [...this.waiters]) if (!this.early.length && head > w.upTo) w.resolve(true);
  }

  private emit<T>(callback: ((arg: T) => void) | undefined, arg: T): void {
    try {
      callback?.(arg);
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    this.o.onError?.(error);
  }

  // Storage writes are batched: an event confirmed before its batch is written is never written.
  private put(key: string, value: string): void {
    this.dels.delete(key);
    this.sets.set(key, value);
    this.schedule();
  }

  private schedule(): void {
    if (!this.writing)
      this.writing = new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => this.persist());
  }

  private async persist(): Promise<void> {
    const set = [...this.sets];
    const remove = [...this.dels];
    this.sets.clear();
    this.dels.clear();
    try {
      if (set.length || remove.length) await this.storage.write(set, remove);
    } catch (error) {
      this.report(error);
    }
    this.writing = undefined;
    if (this.sets.size || this.dels.size) this.schedule();
  }
}
