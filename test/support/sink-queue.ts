// What the ack-queue property tests share: resumable clients on fake sockets (a window of up to 8
// frames in flight; after a refusal they wait for their replies, then resend from the refused seq),
// and the queue's collaborators reduced to what it calls.
import type { ConfigType } from '@nestjs/config';
import fc from 'fast-check';
import type { PinoLogger } from 'nestjs-pino';
import type { WebSocket } from 'ws';
import type { appConfig } from '../../src/config/app.config.js';
import type { MetricsService } from '../../src/metrics/metrics.service.js';
import { RATE_LIMITED, UNAVAILABLE_ACK } from '../../src/protocol/index.js';
import { AckQueue } from '../../src/ingest/ack-queue.js';
import { type Conn, newConn } from '../../src/ingest/connection.js';
import type { StreamLog } from '../../src/sink/stream-log.js';
import type { StreamEvent } from '../../src/stream/stream-event.js';
import type { StreamService } from '../../src/stream/stream.service.js';

/** A socket that records what is sent. */
function fakeSocket(sent: string[]): WebSocket {
  return {
    readyState: 1,
    bufferedAmount: 0,
    send: (text: string) => sent.push(text),
    pause: () => undefined,
    resume: () => undefined,
  } as unknown as WebSocket;
}

export class QueueClient {
  readonly sent: string[] = [];
  readonly conn: Conn;
  next = 1;
  inFlight: number[] = [];
  rewind: number | undefined;
  refusals = 0;

  constructor(readonly stream: string) {
    this.conn = newConn(fakeSocket(this.sent), `c-${stream}`, stream);
  }

  /** The next frame, refused by the rate limit before it reaches the log (unless a resend is due). */
  rateLimited(sink: AckQueue): void {
    if (this.rewind !== undefined) return;
    const seq = this.next++;
    this.inFlight.push(seq);
    sink.reply(this.conn, RATE_LIMITED, 0, seq);
  }

  /** Up to `frames` new frames, while nothing is refused and fewer than 8 are in flight. */
  send(sink: AckQueue, frames: number): void {
    for (let i = 0; i < frames && this.rewind === undefined && this.inFlight.length < 8; i++) {
      const seq = this.next++;
      this.inFlight.push(seq);
      sink.append(this.conn, this.frame(seq), 0);
    }
  }

  /**
   * Takes the replies written so far, in frame order: a refusal marks where to resend from; any other
   * reply must be for the oldest frame in flight and is handed to `check`. Once nothing is in flight
   * after a refusal, the next frame is the refused one.
   */
  read(check: (reply: { status: string; seq: number }) => void): void {
    while (this.sent.length > 0) {
      const reply = this.sent.shift()!;
      const seq = this.inFlight.shift();
      expect(seq).toBeDefined();
      if (reply === UNAVAILABLE_ACK || reply === RATE_LIMITED) {
        this.refusals++;
        this.rewind = Math.min(this.rewind ?? Infinity, seq!);
        continue;
      }
      const parsed = JSON.parse(reply) as { status: string; seq: number };
      expect(parsed.seq).toBe(seq);
      check(parsed);
    }
    if (this.inFlight.length === 0 && this.rewind !== undefined) {
      this.next = this.rewind;
      this.rewind = undefined;
    }
  }

  private frame(seq: number): StreamEvent {
    return {
      messageId: null,
      clientId: this.conn.clientId,
      timestamp: '1.000',
      route: { category: null } as StreamEvent['route'],
      size: 10,
      text: `{"seq":${seq}}`,
      value: { seq },
      stream: this.stream,
      seq,
    };
  }
}

/** The settings the queue (and a sink) reads. */
export const queueConfig = {
  sinkQueueMax: 1_000_000,
  sinkQueueMaxBytes: 1024 ** 3,
  sinkReadyMaxAgeMs: 5000,
  redisCommandTimeoutMs: 10,
  clientMaxBufferBytes: 1 << 20,
  shutdownTimeoutMs: 1000,
  streamStateMax: 1000,
};

/** `accepted` events' gaps added up per stream into `gaps` when given. */
export function fakeStream(gaps?: Map<string, number>): StreamService {
  const ignore = () => undefined;
  return {
    countUnavailable: ignore,
    countRateLimited: ignore,
    accepted: (event: StreamEvent) => gaps?.set(event.stream!, (gaps.get(event.stream!) ?? 0) + event.gap!),
    duplicated: ignore,
  } as unknown as StreamService;
}

const ignore = () => undefined;
export const fakeMetrics = {
  counter: ignore,
  gauge: ignore,
  histogram: () => ({ observe: ignore }),
  ackLatency: { observe: ignore },
} as unknown as MetricsService;
export const fakeLogger = {
  setContext: ignore,
  warn: ignore,
  info: ignore,
  error: ignore,
} as unknown as PinoLogger;

/** The ack queue in front of `engine`, with `settings` over queueConfig; ids from 1. */
export function queueOf(
  engine: StreamLog,
  settings: Record<string, unknown>,
  stream: StreamService = fakeStream(),
): AckQueue {
  let id = 0;
  return new AckQueue(
    { ...queueConfig, ...settings } as unknown as ConfigType<typeof appConfig>,
    engine,
    settings.sink !== 'none',
    {
      takeId: () => ++id,
      idsReady: () => Promise.resolve(true),
      send: (conn, reply) => conn.socket.send(reply),
    },
    stream,
    fakeMetrics,
    fakeLogger,
  );
}

export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A step of the property tests: one of four clients sends 1 to 5 frames. */
export const sendStep = fc.record({
  kind: fc.constant('send' as const),
  client: fc.nat(3),
  frames: fc.integer({ min: 1, max: 5 }),
});
