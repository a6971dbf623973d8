import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { PinoLogger } from 'nestjs-pino';
import pino from 'pino';
import { FlowMap } from './flow-map.js';
import { IdSource, LocalIdSource } from './id-source.js';
import { Subject } from 'rxjs';
import { MetricsService } from '../metrics/metrics.service.js';
import type { ConfigType } from '@nestjs/config';
import type { WebSocket } from 'ws';
import type { AuthService } from '../auth/auth.service.js';
import type { appConfig } from '../config/app.config.js';
import { newConn } from '../ingest/connection.js';
import { FramePipeline } from '../ingest/frame-pipeline.js';
import { MALFORMED_ACK, UNAVAILABLE_ACK, encodeEvent as serializeEvent } from '../protocol/index.js';
import type { RedisService } from '../redis/redis.service.js';
import type { StreamLog } from '../sink/stream-log.js';
import type { StreamEvent } from './stream-event.js';
import { MemoryStreamState } from './stream-state.js';
import { StreamService } from './stream.service.js';

const silentLogger = () => new PinoLogger({ pinoHttp: pino({ level: 'silent' }) });

/** Seed mode (no stream id, no sink) through the real FramePipeline: one frame in, its reply out. */
function seedPath(
  stream: StreamService,
  ids: IdSource,
): (text: string, size: number, clientId: string) => string {
  const cfg = {
    sink: 'none',
    rateLimitPerConnection: 0,
    clientMaxBufferBytes: 1 << 20,
    clientStallTimeoutMs: 0,
    sinkPipeline: 1,
  } as unknown as ConfigType<typeof appConfig>;
  const log = { pipelined: false } as unknown as StreamLog;
  const pipeline = new FramePipeline(
    cfg,
    stream,
    ids,
    log,
    new MemoryStreamState(10, 1000),
    new MetricsService(),
    {} as AuthService,
    silentLogger(),
    { enabled: false } as RedisService,
  );
  const replies: string[] = [];
  const socket = { send: (reply: string) => replies.push(reply), bufferedAmount: 0 } as unknown as WebSocket;
  const handlers = new Map<string, (data: Buffer) => void>();
  return (text, size, clientId) => {
    let onFrame = handlers.get(clientId);
    if (onFrame === undefined) {
      onFrame = pipeline.frames(newConn(socket, clientId, undefined), false);
      handlers.set(clientId, onFrame);
    }
    const data = Buffer.from(text);
    expect(data.length).toBe(size);
    onFrame(data);
    return replies.shift()!;
  };
}

const ACK = /^\{"status":"received","server_timestamp":(\d+\.\d{3}),"message_id":(\d+)\}$/;

describe(StreamService.name, () => {
  let stream: StreamService;
  let events: StreamEvent[];
  let ingest: (text: string, size: number, clientId: string) => string;

  beforeEach(async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        StreamService,
        { provide: FlowMap, useValue: FlowMap.load(undefined) },
        { provide: IdSource, useClass: LocalIdSource },
        { provide: PinoLogger, useValue: silentLogger() },
        MetricsService,
      ],
    }).compile();
    stream = moduleRef.get(StreamService);
    ingest = seedPath(stream, moduleRef.get(IdSource));
    events = [];
    stream.events$.subscribe((e) => events.push(e));
  });

  it('acks valid JSON with ids from 1, strictly increasing, and an ms-precision timestamp', () => {
    const before = Date.now() / 1000;
    const acks = ['{"a":1}', '[1]', '"s"', '3', 'true', 'false', 'null'].map((f) =>
      ingest(f, f.length, 'c1'),
    );
    acks.forEach((ack, i) => {
      const [, ts, id] = ACK.exec(ack)!;
      expect(Number(id)).toBe(i + 1);
      expect(Number(ts)).toBeGreaterThanOrEqual(Math.floor(before * 1000) / 1000);
      expect(Number(ts)).toBeLessThanOrEqual(Date.now() / 1000);
    });
    expect(stream.stats()).toMatchObject({ total_messages: 7, total_errors: 0 });
  });

  it.each(['', 'NaN', '{"a":1,}', "{'a':1}", '{}{}', '{"a":"\u0000"}', '\u0000'])(
    'answers malformed %j with the error ack and consumes no id',
    (frame) => {
      expect(ingest(frame, frame.length, 'c1')).toBe(MALFORMED_ACK);
      expect(ACK.exec(ingest('{}', 2, 'c1'))![2]).toBe('1');
      expect(stream.stats()).toMatchObject({ total_messages: 1, total_errors: 1 });
    },
  );

  it('emits an event per frame whose serialised form splices the raw text', () => {
    ingest('{"event_type":"swipe", "x": 1}', 30, 'abc');
    ingest('{oops', 5, 'abc');
    expect(events).toHaveLength(2);
    const [ok, bad] = events.map((e) => JSON.parse(serializeEvent(e)) as Record<string, unknown>);
    expect(ok).toEqual({
      message_id: 1,
      client_id: 'abc',
      status: 'received',
      server_timestamp: expect.any(Number) as unknown,
      path: ['client', 'ingest', 'parse', 'classify', 'gesture', 'stream', 'ack'],
      category: 'gesture',
      size: 30,
      data: { event_type: 'swipe', x: 1 },
    });
    expect(serializeEvent(events[0])).toContain('"data":{"event_type":"swipe", "x": 1}}');
    expect(bad).toEqual({
      message_id: null,
      client_id: 'abc',
      status: 'error',
      server_timestamp: expect.any(Number) as unknown,
      path: ['client', 'ingest', 'parse', 'error'],
      category: null,
      size: 5,
      error: 'Malformed JSON',
      preview: '{oops',
    });
  });

  it("counts a resume only for a known stream, and marks that connection's first event", () => {
    expect(stream.resumed(0)).toBe(false);
    expect(stream.resumed(5)).toBe(true);
    expect(stream.stats().resumes).toBe(1);
    const first = stream.pending('{"seq":6}', 9, 'c1', { seq: 6 }, 's-1', 6, true);
    first.messageId = 1;
    stream.accepted(first);
    const next = stream.pending('{"seq":6}', 9, 'c1', { seq: 6 }, 's-1', 6);
    stream.duplicated(next);
    expect(events.map((e) => JSON.parse(serializeEvent(e)) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ status: 'received', stream: 's-1', seq: 6, resumed: true }),
      expect.not.objectContaining({ resumed: expect.anything() as unknown }),
    ]);
    expect(stream.stats()).toMatchObject({ resumes: 1, total_duplicates: 1, total_gaps: 0 });
  });

  it('previews at most 200 characters of a malformed frame', () => {
    const frame = 'x'.repeat(500);
    ingest(frame, 500, 'c');
    expect((JSON.parse(serializeEvent(events[0])) as { preview: string }).preview).toBe('x'.repeat(200));
  });

  it('handles 100 000 levels of nesting without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(ingest(deep, deep.length, 'c')).toMatch(ACK);
    expect(serializeEvent(events[0]).endsWith(deep + '}')).toBe(true);
  });

  it('counts every event on each node of its route, errors included', () => {
    ingest('{"event_type":"touch"}', 22, 'c1');
    ingest('{"event_type":"touch"}', 22, 'c1');
    ingest('{"event_type":"zzz"}', 20, 'c1');
    ingest('{oops', 5, 'c1');
    expect(stream.nodeCounts()).toEqual({
      client: 4,
      ingest: 4,
      parse: 4,
      error: 1,
      classify: 3,
      touch: 2,
      gesture: 0,
      keystroke: 0,
      motion: 0,
      other: 1,
      stream: 3,
      ack: 3,
    });
  });

  it('counts connections and monitors up and down', () => {
    stream.connectionOpened();
    stream.connectionOpened();
    stream.monitorOpened();
    stream.connectionClosed();
    expect(stream.stats()).toMatchObject({ active_connections: 1, active_monitors: 1 });
  });

  it('refuses a frame, uncounted, when no message id can be handed out', async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        StreamService,
        { provide: FlowMap, useValue: FlowMap.load(undefined) },
        { provide: IdSource, useValue: { next: () => undefined } },
        { provide: PinoLogger, useValue: silentLogger() },
        MetricsService,
      ],
    }).compile();
    const starved = moduleRef.get(StreamService);
    expect(seedPath(starved, moduleRef.get(IdSource))('{}', 2, 'c')).toBe(UNAVAILABLE_ACK);
    expect(starved.stats().total_messages).toBe(0);
    expect(starved.frameCounts()).toMatchObject({ received: 0, unavailable: 1 });
  });

  it('emits nothing on events$ while nobody subscribes, and still acks', () => {
    const ids = new LocalIdSource();
    const fresh = new StreamService(FlowMap.load(undefined), ids, silentLogger(), new MetricsService());
    const send = seedPath(fresh, ids);
    const next = jest.spyOn(Subject.prototype, 'next');
    expect(send('{"a":1}', 7, 'c')).toMatch(ACK);
    expect(send('nope', 4, 'c')).toBe(MALFORMED_ACK);
    expect(next).not.toHaveBeenCalled();
    next.mockRestore();
    const seen: StreamEvent[] = [];
    const subscription = fresh.events$.subscribe((e) => seen.push(e));
    send('[]', 2, 'c');
    subscription.unsubscribe();
    send('[1]', 3, 'c');
    expect(seen.map((e) => e.text)).toEqual(['[]']);
  });
});
