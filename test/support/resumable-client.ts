// A resumable producer as the protocol expects one: it numbers its events (seq from 1), keeps every
// event until it is acked (received or duplicate), and after each reconnect reads the resume frame
// and resends everything above last_seq. It records what the server answered, for the fault tests.
import WebSocket from 'ws';
import type {
  DuplicateFrame,
  ErrorFrame,
  InvalidSeqFrame,
  ResumableReply,
  SeqAckFrame,
} from '../../src/protocol/index.js';

/** Any reply on an ingest socket, resumable or not: its status, and whichever fields it carries. */
export type Reply = Pick<ResumableReply, 'status'> &
  Partial<
    Omit<SeqAckFrame, 'status'> &
      Omit<DuplicateFrame, 'status'> &
      Omit<ErrorFrame | InvalidSeqFrame, 'status'>
  >;

export class ResumableClient {
  /** Acked seq -> message id (received) or null (duplicate). */
  readonly acked = new Map<number, number | null>();
  readonly received: Reply[] = [];
  readonly duplicates: number[] = [];
  readonly refusals: Reply[] = [];
  readonly resumes: number[] = [];
  readonly closes: number[] = [];
  private nextSeq = 1;
  private socket: WebSocket | undefined;
  /** Seqs sent on the current socket, in order, not yet answered. */
  private inFlight: number[] = [];
  private stopped = false;
  private retryFrom: number | undefined;
  /** Replies whose seq was not the next one in flight (replies out of frame order). */
  outOfOrder = 0;

  constructor(
    private readonly url: () => string,
    readonly stream: string,
    private readonly total: number,
    private readonly window = 8,
    private readonly payload: (seq: number) => Record<string, unknown> = (seq) => ({
      event_type: 'tap',
      n: seq,
    }),
  ) {}

  get done(): boolean {
    return this.acked.size >= this.total;
  }

  /** Runs until every event is acked or `timeoutMs` passes; reconnects after every close. */
  async run(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done && !this.stopped) {
      if (Date.now() > deadline)
        throw new Error(`${this.stream}: ${this.acked.size}/${this.total} acked in time`);
      await this.session(deadline);
      if (!this.done) await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): void {
    this.stopped = true;
    this.socket?.terminate();
  }

  /** Cuts the current connection without a close handshake. */
  sever(): void {
    this.socket?.terminate();
  }

  private session(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const sep = this.url().includes('?') ? '&' : '?';
      const socket = new WebSocket(`${this.url()}${sep}stream=${encodeURIComponent(this.stream)}`);
      this.socket = socket;
      this.inFlight = [];
      this.retryFrom = undefined;
      const timer = setTimeout(() => socket.terminate(), Math.max(1, deadline - Date.now()));
      socket.on('error', () => undefined);
      socket.on('close', (code) => {
        clearTimeout(timer);
        this.closes.push(code);
        resolve();
      });
      socket.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as Reply & { type?: string; last_seq?: number };
        if (frame.type === 'resume') {
          this.resumes.push(frame.last_seq!);
          // Everything at or below last_seq is in the log: resend from last_seq + 1.
          for (let seq = 1; seq <= frame.last_seq! && seq <= this.total; seq++) {
            if (!this.acked.has(seq)) this.acked.set(seq, null);
          }
          this.nextSeq = frame.last_seq! + 1;
          this.pump(socket);
          return;
        }
        const seq = this.inFlight.shift();
        if (frame.seq !== undefined && frame.seq !== seq) this.outOfOrder++;
        if (frame.status === 'received') {
          this.received.push(frame);
          this.acked.set(frame.seq!, frame.message_id!);
        } else if (frame.status === 'duplicate') {
          this.duplicates.push(frame.seq!);
          if (!this.acked.has(frame.seq!)) this.acked.set(frame.seq!, null);
        } else {
          this.refusals.push(frame);
          if (seq !== undefined && (this.retryFrom === undefined || seq < this.retryFrom))
            this.retryFrom = seq;
        }
        if (this.done) return socket.close();
        if (this.retryFrom !== undefined) {
          // Refused: once every frame in flight is answered, resend from the first refused seq.
          if (this.inFlight.length > 0) return;
          this.nextSeq = this.retryFrom;
          this.retryFrom = undefined;
          setTimeout(() => this.pump(socket), 20);
          return;
        }
        this.pump(socket);
      });
    });
  }

  private pump(socket: WebSocket): void {
    while (
      socket.readyState === WebSocket.OPEN &&
      this.inFlight.length < this.window &&
      this.nextSeq <= this.total
    ) {
      const seq = this.nextSeq++;
      if (this.acked.has(seq)) continue;
      this.inFlight.push(seq);
      socket.send(JSON.stringify({ seq, ...this.payload(seq) }));
    }
  }
}
