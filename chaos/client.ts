// Resumable clients as a phone runs them: each stream keeps its own queue of events until they are
// confirmed, and every connection resumes from what the server says it holds (`last_seq`) and
// resends the rest in order. What each reply confirmed, and when, is kept for the verdict.
import WebSocket from 'ws';
import { Recorder } from './recorder.js';

export const REFUSALS = ['Rate limit exceeded', 'Service unavailable'];

interface Confirmation {
  how: 'ack' | 'duplicate' | 'resume';
  /**
   * The earliest moment the server may have stored what this confirmation vouches for: the
   * server_timestamp (ms) of the last reply that confirmed it (when the server took the frame), or,
   * for a resume frame, the earlier of the connection's start and the seq's first send (a copy sent
   * before may have been stored then, and its ack lost with its connection).
   */
  lastAt?: number;
}

export interface SourceOptions {
  /** Events per second this stream produces; 0: as fast as its connections take them. */
  ratePerSec: number;
  /** Never more than this many events. */
  maxEvents: number;
}

/** One stream (one phone session): its events, produced on demand, and what was confirmed. */
export class EventSource {
  produced = 0;
  producing = true;
  /** The lowest seq not confirmed yet. */
  floor = 1;
  readonly confirmed = new Map<number, Confirmation>();
  /** Every resume frame seen: when, and the last_seq it claimed. */
  readonly resumes: { at: number; lastSeq: number }[] = [];
  /** When each seq was first sent (index: seq). */
  readonly firstSentAt: number[] = [];
  /** Paced streams: when the next event is due. A stream that fell behind (a busy machine)
   * catches up by at most 100 ms' worth, or its burst would be a rate-limit fault of its own. */
  private nextAt = Date.now();

  constructor(
    readonly stream: string,
    private readonly options: SourceOptions,
  ) {}

  /** The exact text sent for `seq`; every connection of the stream sends the same text. */
  text(seq: number): string {
    return `{"seq":${seq},"event_type":"touch","user_id":"${this.stream}","x":${seq % 997},"y":${seq % 13}}`;
  }

  get done(): boolean {
    return !this.producing && this.floor > this.produced;
  }

  /** Whether a new event may be produced now; `undefined` when only pacing holds it back. */
  mayProduce(): boolean | undefined {
    if (!this.producing || this.produced >= this.options.maxEvents) return false;
    if (this.options.ratePerSec === 0) return true;
    return Date.now() >= this.nextAt ? true : undefined;
  }

  produce(): number {
    if (this.options.ratePerSec > 0) {
      this.nextAt = Math.max(this.nextAt, Date.now() - 100) + 1000 / this.options.ratePerSec;
    }
    return ++this.produced;
  }

  confirm(seq: number, how: Confirmation['how'], at?: number): void {
    const known = this.confirmed.get(seq);
    if (known === undefined) this.confirmed.set(seq, { how, lastAt: at });
    else if (at !== undefined) known.lastAt = at;
    while (this.confirmed.has(this.floor)) this.floor++;
  }
}

export interface ConnectionOptions {
  /** Frames in flight (sent, not yet answered) per connection. */
  window: number;
  /** Stops answering pings while its stream still produces (the heartbeat fault). */
  mute?: boolean;
  /** Its refusals are the fault itself (the rate-limit fault), not "refused while healthy". */
  expectRefusals?: boolean;
  /** Upgrade headers (JWT mode: the stream's Authorization). */
  headers?: Record<string, string>;
}

/** A connection that owes us frames (resume, replies) and stays silent this long is given up, as a
 * phone's own ping timeout would: a one-sided cut leaves it open but dead. */
const SILENCE_MS = 2000;

/** One connection loop for a stream: connect, resume, send, and reconnect after every close. */
export class ResumableConnection {
  private socket?: WebSocket;
  private stopped = false;
  private fifo: number[] = [];
  private cursor = 1;
  private resumed = false;
  private rewinding = false;
  private lastMessageId = 0;
  private pumpTimer?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private lastFrameAt = 0;
  /** When the current connection was started (before the server could read any state for it). */
  private connectedAt = 0;
  /** The socket this client terminated itself (silent too long, or a protocol error). */
  private abandoned?: WebSocket;
  connections = 0;

  constructor(
    readonly source: EventSource,
    private readonly url: () => string,
    private readonly recorder: Recorder,
    private readonly options: ConnectionOptions,
  ) {}

  start(): void {
    this.connect();
    this.watchdog = setInterval(() => {
      const owed = !this.resumed || this.fifo.length > 0;
      if (owed && this.socket?.readyState === WebSocket.OPEN && Date.now() - this.lastFrameAt > SILENCE_MS) {
        this.abandon(this.socket);
      }
    }, 250);
  }

  /** Stops reconnecting and closes the socket (normal closure). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.pumpTimer);
    clearTimeout(this.reconnectTimer);
    this.socket?.close(1000);
  }

  /** Where this connection stands, for the report when a stream does not drain. */
  describe(): string {
    const states = ['connecting', 'open', 'closing', 'closed'];
    const source = this.source;
    return (
      `${source.stream}: confirmed below ${source.floor} of ${source.produced}; connection ${this.connections} ` +
      `${states[this.socket?.readyState ?? 3]}, ${this.resumed ? 'resumed' : 'no resume frame yet'}, ` +
      `${this.fifo.length} in flight${this.rewinding ? ' (rewinding)' : ''}, silent for ${Date.now() - this.lastFrameAt} ms`
    );
  }

  /** After stop(): resolves when the socket is gone. */
  async closed(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      setTimeout(() => {
        socket.terminate();
        resolve();
      }, 2000).unref();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    this.connections++;
    this.connectedAt = Date.now();
    this.resumed = false;
    this.rewinding = false;
    this.fifo = [];
    this.lastMessageId = 0;
    const mute = this.options.mute === true && this.source.producing;
    const socket = new WebSocket(
      `${this.url()}/ws/behaviour?stream=${encodeURIComponent(this.source.stream)}`,
      {
        autoPong: !mute,
        handshakeTimeout: 5000,
        headers: this.options.headers,
      },
    );
    this.socket = socket;
    let opened = false;
    socket.once('open', () => {
      opened = true;
      this.lastFrameAt = Date.now();
    });
    socket.on('message', (data: Buffer) => this.onFrame(socket, data.toString()));
    socket.on('error', () => undefined);
    socket.on('close', (code) => {
      if (this.socket !== socket) return;
      // The close codes are the evidence of what the server (or the network) did; a connection
      // this client gave up itself is counted apart.
      if (this.abandoned === socket) this.recorder.gaveUp();
      else this.recorder.closed(code);
      this.fifo = [];
      this.resumed = false;
      clearTimeout(this.pumpTimer);
      if (this.stopped) return;
      // A connection that never opened (instance down, 503 while it starts) waits longer.
      const delay = opened ? 50 : 200;
      this.reconnectTimer = setTimeout(() => this.connect(), delay + Math.random() * 100);
    });
  }

  private onFrame(socket: WebSocket, text: string): void {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return this.protocolError(`not JSON: ${text.slice(0, 100)}`);
    }
    const now = Date.now();
    if (!this.resumed) return this.onResume(frame, now);
    const expected = this.fifo.shift();
    if (expected === undefined) return this.protocolError(`reply without a frame: ${text}`);
    if (frame.status === 'received' || frame.status === 'duplicate') {
      if (frame.seq !== expected) return this.protocolError(`reply for seq ${expected} says ${text}`);
      if (frame.status === 'received') {
        const id = frame.message_id;
        if (typeof id !== 'number' || id <= this.lastMessageId) {
          this.protocolError(`message_id ${String(id)} after ${this.lastMessageId} on one connection`);
        } else this.lastMessageId = id;
        this.recorder.acked(this.source.stream, expected, Number(id));
      } else this.recorder.duplicate();
      // The server's time: when it took the frame, which orders it against a broker's data loss.
      const at = typeof frame.server_timestamp === 'number' ? Math.round(frame.server_timestamp * 1000) : now;
      this.source.confirm(expected, frame.status === 'received' ? 'ack' : 'duplicate', at);
    } else if (frame.status === 'error' && REFUSALS.includes(frame.message as string)) {
      this.recorder.refused(frame.message as string, now, this.options.expectRefusals === true);
      // Every later frame is refused too or the socket is closed; resend from the refused one.
      this.rewinding = true;
    } else {
      return this.protocolError(`unexpected reply ${text} for seq ${expected}`);
    }
    if (this.rewinding && this.fifo.length === 0) {
      clearTimeout(this.pumpTimer);
      this.pumpTimer = setTimeout(() => {
        this.rewinding = false;
        this.cursor = this.source.floor;
        this.pump();
      }, 50);
    } else this.pump();
  }

  private onResume(frame: Record<string, unknown>, now: number): void {
    const lastSeq = frame.last_seq;
    if (frame.type !== 'resume' || frame.stream !== this.source.stream || !Number.isSafeInteger(lastSeq)) {
      return this.protocolError(`first frame is not a resume frame: ${JSON.stringify(frame)}`);
    }
    const n = lastSeq as number;
    if (n > this.source.produced)
      this.protocolError(`resume last_seq ${n} beyond the ${this.source.produced} sent`);
    this.source.resumes.push({ at: now, lastSeq: n });
    for (let seq = this.source.floor; seq <= Math.min(n, this.source.produced); seq++) {
      if (!this.source.confirmed.has(seq)) {
        this.source.confirm(seq, 'resume', Math.min(this.connectedAt, this.source.firstSentAt[seq] ?? now));
      }
    }
    this.resumed = true;
    this.cursor = this.source.floor;
    this.pump();
  }

  private pump(): void {
    const socket = this.socket;
    if (!this.resumed || this.rewinding || socket?.readyState !== WebSocket.OPEN) return;
    const source = this.source;
    while (this.fifo.length < this.options.window) {
      const seq = this.cursor;
      if (seq > source.produced) {
        const may = source.mayProduce();
        if (may === undefined) {
          clearTimeout(this.pumpTimer);
          this.pumpTimer = setTimeout(() => this.pump(), 20);
        }
        if (!may) return;
        source.produce();
      }
      this.cursor++;
      if (source.confirmed.has(seq)) continue;
      socket.send(source.text(seq));
      source.firstSentAt[seq] ??= Date.now();
      this.fifo.push(seq);
      this.recorder.frames++;
    }
  }

  private protocolError(what: string): void {
    this.recorder.protocolError(`${this.source.stream}: ${what}`);
    if (this.socket !== undefined) this.abandon(this.socket);
  }

  private abandon(socket: WebSocket): void {
    this.abandoned = socket;
    socket.terminate();
  }
}
