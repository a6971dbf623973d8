// The SINK=nats publisher against a private `nats-server -js`: a frame it writes itself must land in
// the log exactly as the client's own nc.publish() would have put it there (headers, UTF-8 data,
// the Nats-Msg-Id dedupe), and its refusals (no stream, too big, a closed connection) must fail
// that publish alone. The client's internals it relies on (src/sink/nats/client-internals.ts) are
// checked here against the pinned client: a client that changes under them fails this suite.
import { jetstreamManager } from '@nats-io/jetstream';
import { MsgHdrsImpl, type NatsConnection, connect } from '@nats-io/transport-node';
import { performance } from 'node:perf_hooks';
import type { SinkEntry } from '../src/sink/stream-log.js';
import {
  EncodedHeaders,
  frameWriterOf,
  pendingLimitOption,
  subjectBytes,
} from '../src/sink/nats/client-internals.js';
import {
  PubAckPublisher,
  type PublishListener,
  type PublishOutcome,
  WireBytes,
  natsHeaderBlock,
} from '../src/sink/nats/publisher.js';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats, readLog } from './support/nats.js';

const entry = (seq: number, data: string): SinkEntry => ({
  stream: 'app-1:device@42',
  seq,
  messageId: 1000 + seq,
  clientId: 'Ab-_9xYz0123',
  timestamp: '1764337000.123',
  category: 'touch',
  data,
});

const DATA = [
  '{"seq":1,"x":1.5}',
  '{"seq":2,"note":"é ü ß 漢字 🙂"}',
  '{"seq":3,"quote":"a \\" b","nl":"\\n"}',
  // JSON may put CR LF between tokens: the frame is length-delimited, so they are data like any other.
  '{"seq":4,\r\n"x":2}\r\n',
];

function publishOne(
  publisher: PubAckPublisher,
  subject: string,
  headerBlock: string | undefined,
  data: string,
): Promise<{ outcome: PublishOutcome; error?: Error }> {
  return new Promise((resolve) => {
    const listener: PublishListener = { settled: (_, outcome, __, error) => resolve({ outcome, error }) };
    publisher.publish(subject, headerBlock, data, performance.now(), listener, 0);
  });
}

describeWithNats('NATS publisher', () => {
  let server: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    for (const name of ['FRAMES', 'CLIENT']) {
      await jsm.streams.add({ name, subjects: [`pub.${name.toLowerCase()}`] });
    }
  });

  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it('writes each frame byte for byte as nc.publish() does: the same log, headers and UTF-8 data', async () => {
    const frames = new PubAckPublisher(nc, 5000);
    const client = new PubAckPublisher(nc, 5000, { frames: false });
    try {
      for (const [publisher, subject] of [
        [frames, 'pub.frames'],
        [client, 'pub.client'],
      ] as const) {
        const outcomes = await Promise.all(
          DATA.map((data, i) => publishOne(publisher, subject, natsHeaderBlock(entry(i + 1, data)), data)),
        );
        expect(outcomes.map((o) => o.outcome)).toEqual(DATA.map(() => 'stored'));
        // No headers (the KV write's shape), then a resend of seq 2: JetStream dedupes it.
        expect((await publishOne(publisher, subject, undefined, 'plain')).outcome).toBe('stored');
        const again = await publishOne(publisher, subject, natsHeaderBlock(entry(2, DATA[1])), DATA[1]);
        expect(again.outcome).toBe('duplicate');
      }
      const [viaFrames, viaClient] = await Promise.all([
        readLog(server.url, 'FRAMES'),
        readLog(server.url, 'CLIENT'),
      ]);
      expect(viaFrames.map((e) => e.data)).toEqual([...DATA, 'plain']);
      expect(viaFrames[1].headers).toEqual({
        message_id: '1002',
        client_id: 'Ab-_9xYz0123',
        server_timestamp: '1764337000.123',
        category: 'touch',
        sub: '',
        kid: '',
        stream: 'app-1:device@42',
        seq: '2',
        'Nats-Msg-Id': 'app-1:device@42:2',
      });
      expect(viaFrames).toEqual(viaClient);
    } finally {
      frames.close();
      client.close();
    }
  });

  describe('the client internals it relies on (client-internals.ts)', () => {
    it('has a frame writer on the connection, and the frames path is the one taken', () => {
      const writer = frameWriterOf(nc);
      expect(writer).toBeDefined();
      expect(writer!.info?.max_payload).toBe(nc.info!.max_payload);
      expect(writer!.noMorePublishing).toBe(false);
      // The publisher takes the frames path only while this holds: the log test above compares it with nc.publish().
      expect(Reflect.get(new PubAckPublisher(nc, 5000), 'writer')).toBe(writer);
    });

    it('keeps a received subject as bytes that decode to msg.subject', async () => {
      const seen = new Promise<[Uint8Array | undefined, string]>((resolve) => {
        const sub = nc.subscribe('internals.subject', {
          callback: (_, msg) => {
            sub.unsubscribe();
            resolve([subjectBytes(msg), msg.subject]);
          },
        });
      });
      await nc.flush();
      nc.publish('internals.subject', 'x');
      const [bytes, subject] = await seen;
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(bytes!).toString()).toBe(subject);
    });

    it('takes the hidden pendingLimit connect option', async () => {
      const own = await connect({ servers: server.url, ...pendingLimitOption });
      try {
        const protocol = Reflect.get(own, 'protocol') as { pendingLimit?: number };
        expect(protocol.pendingLimit).toBe(pendingLimitOption.pendingLimit);
      } finally {
        await own.close();
      }
    });

    it('publishes a header set through encode() alone', async () => {
      const headers = new EncodedHeaders();
      const block = 'NATS/1.0\r\nseq: 7\r\n\r\n';
      headers.bytes = new Uint8Array(Buffer.from(block));
      const got = new Promise<string | undefined>((resolve) => {
        const sub = nc.subscribe('internals.headers', {
          callback: (_, msg) => {
            sub.unsubscribe();
            resolve(msg.headers?.get('seq'));
          },
        });
      });
      await nc.flush();
      nc.publish('internals.headers', 'x', { headers });
      expect(await got).toBe('7');
      expect(headers).toBeInstanceOf(MsgHdrsImpl);
    });
  });

  it('frames a message as the protocol does, sizes in UTF-8 bytes', () => {
    const wire = new WireBytes();
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();
    expect(text(wire.frame('s', 'r.1', 'NATS/1.0\r\n\r\n', 'é🙂'))).toBe(
      'HPUB s r.1 12 18\r\nNATS/1.0\r\n\r\né🙂\r\n',
    );
    expect(wire.size).toBe(12 + 2 + 4);
    expect(text(wire.frame('s', 'r.2', undefined, 'ü'))).toBe('PUB s r.2 2\r\nü\r\n');
    expect(wire.size).toBe(2);
  });

  it('fails only the publish that cannot be stored: no stream, too big; the next one is stored', async () => {
    const publisher = new PubAckPublisher(nc, 5000);
    try {
      const none = await publishOne(publisher, 'pub.nowhere', undefined, '{}');
      expect(none.outcome).toBe('failed');
      const big = await publishOne(publisher, 'pub.frames', undefined, 'x'.repeat(nc.info!.max_payload + 1));
      expect(big.outcome).toBe('failed');
      expect(big.error?.message).toMatch(/exceeds max_payload/);
      expect((await publishOne(publisher, 'pub.frames', undefined, 'after')).outcome).toBe('stored');
    } finally {
      publisher.close();
    }
  });

  it('takes a reply subject again once its PubAck came (R1), never one whose publish timed out', async () => {
    // A stand-in for JetStream on pub.echo: it notes each reply subject and answers "stored" at once,
    // except 'late' and 'hold', which the test answers itself.
    const replies: string[] = [];
    const answers = new Map<string, (ack: string) => void>();
    const responder = nc.subscribe('pub.echo', {
      callback: (_, msg) => {
        replies.push(msg.reply!);
        const answer = (ack: string) => nc.publish(msg.reply!, ack);
        if (['late', 'hold'].includes(msg.string())) answers.set(msg.string(), answer);
        else answer(`{"stream":"ECHO","seq":${replies.length}}`);
      },
    });
    await nc.flush();
    const publisher = new PubAckPublisher(nc, 200, { reuseReplies: true });
    const fresh = new PubAckPublisher(nc, 200);
    try {
      const one = await publishOne(publisher, 'pub.echo', undefined, 'a');
      const two = await publishOne(publisher, 'pub.echo', undefined, 'b');
      expect([one.outcome, two.outcome]).toEqual(['stored', 'stored']);
      expect(replies[1]).toBe(replies[0]);
      const late = await publishOne(publisher, 'pub.echo', undefined, 'late');
      expect([late.outcome, late.error?.message]).toEqual(['failed', 'no PubAck within 200 ms']);
      // In flight when the late "stored" arrives: it must wait for its own reply, not take that one.
      const held = publishOne(publisher, 'pub.echo', undefined, 'hold');
      await nc.flush(); // the responder has it
      answers.get('late')!('{"stream":"ECHO","seq":3}');
      await nc.flush(); // the publisher has read the late reply
      answers.get('hold')!('{"stream":"ECHO","seq":4,"duplicate":true}');
      expect((await held).outcome).toBe('duplicate');
      expect(replies[3]).not.toBe(replies[2]);
      // And the subject of an answered publish is taken again.
      expect((await publishOne(publisher, 'pub.echo', undefined, 'c')).outcome).toBe('stored');
      expect(replies[4]).toBe(replies[3]);
      // Without reuseReplies (replicated streams) every publish has a subject of its own.
      for (const data of ['d', 'e'])
        expect((await publishOne(fresh, 'pub.echo', undefined, data)).outcome).toBe('stored');
      expect(replies[6]).not.toBe(replies[5]);
    } finally {
      responder.unsubscribe();
      publisher.close();
      fresh.close();
    }
  });

  it('fails a publish on a closed connection at once, and every one still waiting when closed', async () => {
    const own = await connect({ servers: server.url });
    const publisher = new PubAckPublisher(own, 5000);
    const closing = new PubAckPublisher(own, 5000);
    const waiting = publishOne(closing, 'pub.frames', undefined, 'in flight');
    closing.close();
    expect((await waiting).outcome).toBe('failed');
    await own.close();
    const late = await publishOne(publisher, 'pub.frames', undefined, 'late');
    expect([late.outcome, late.error?.message]).toEqual(['failed', 'NATS connection closed']);
    publisher.close();
  });
});
