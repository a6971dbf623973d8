// Property test of SINK=nats with batches in flight: the ack queue and the real NatsSink, in front of
// a fake JetStream that stores publishes in any order, fails some (not stored) and loses the PubAck
// of others (stored or not), dedupes on Nats-Msg-Id as JetStream does within its window, and a KV
// bucket whose writes fail at random. Resumable clients resend from the first refused seq. Checked
// throughout: every `received` reply is for a seq in the log and covered by KV (written before the
// ack), every `duplicate` reply is for a seq in the log and covered by KV, KV is never ahead of the
// log and never lowered (its writes are compare-and-set on the revision); at the end
// every stream's log holds 1..10 once each, with no gap reported; and with no fault at all, nothing is ever refused.
import fc from 'fast-check';
import type { ConfigType } from '@nestjs/config';
import type { KV } from '@nats-io/kv';
import {
  QueueClient as Client,
  fakeLogger,
  fakeMetrics,
  fakeStream,
  queueConfig,
  queueOf,
  sendStep,
  turn,
} from '../../../test/support/sink-queue.js';
import type { appConfig } from '../../config/app.config.js';
import { NatsClient } from './connection.js';
import { NatsSink } from './log.js';
import type { PubAckPublisher, PublishListener, PublishOutcome } from './publisher.js';
import { NatsStreamState, stateKey } from './stream-state.js';

interface Publish {
  stream: string;
  seq: number;
  msgId: string;
  settle: (outcome: PublishOutcome) => void;
}

/** JetStream as far as the sink sees it: a log deduplicated on Nats-Msg-Id, PubAcks, a KV bucket. */
class FakeJetStream {
  readonly log: { stream: string; seq: number }[] = [];
  private readonly ids = new Set<string>();
  readonly waiting: Publish[] = [];
  readonly kv = new Map<string, { value: number; revision: number }>();
  private revision = 0;
  readonly puts: {
    key: string;
    value: number;
    /** The revision the write expects (0: the key must not exist). */
    expect: number;
    resolve: (revision: number) => void;
    reject: (e: Error) => void;
  }[] = [];

  holds(stream: string, seq: number): boolean {
    return this.log.some((e) => e.stream === stream && e.seq === seq);
  }

  kvOf(stream: string): number {
    return this.kv.get(stateKey(stream))?.value ?? 0;
  }

  /** What NatsSink calls: one publish, settled later by a step. */
  publisher(): PubAckPublisher {
    return {
      publish: (
        _subject: string,
        headerBlock: string | undefined,
        _data: string,
        at: number,
        listener: PublishListener,
        index: number,
      ) => {
        const header = (name: string) => new RegExp(`\r\n${name}: ([^\r]*)`).exec(headerBlock!)![1];
        this.waiting.push({
          stream: header('stream'),
          seq: Number(header('seq')),
          msgId: header('Nats-Msg-Id'),
          settle: (outcome) => listener.settled(index, outcome, at),
        });
      },
      failPending: () => undefined,
      close: () => undefined,
    } as unknown as PubAckPublisher;
  }

  /** Stores (or not) one waiting publish, and delivers (or loses) its PubAck. */
  process(pick: number, stored: boolean, acked: boolean): void {
    if (this.waiting.length === 0) return;
    const [p] = this.waiting.splice(pick % this.waiting.length, 1);
    let duplicate = false;
    if (stored) {
      duplicate = this.ids.has(p.msgId);
      if (!duplicate) {
        this.ids.add(p.msgId);
        this.log.push({ stream: p.stream, seq: p.seq });
      }
    }
    p.settle(!stored || !acked ? 'failed' : duplicate ? 'duplicate' : 'stored');
  }

  /** One KV write lands (or fails). It must never claim more than the log holds, nor lower the key. */
  write(pick: number, ok: boolean): void {
    if (this.puts.length === 0) return;
    const [put] = this.puts.splice(pick % this.puts.length, 1);
    if (!ok) return put.reject(new Error('KV write failed'));
    const current = this.kv.get(put.key);
    // Compare-and-set on the revision, as JetStream's expected last subject sequence.
    if ((current?.revision ?? 0) !== put.expect) return put.reject(new Error('wrong last sequence'));
    const stream = Buffer.from(put.key, 'base64url').toString();
    for (let seq = (current?.value ?? 0) + 1; seq <= put.value; seq++) {
      // Seqs 1..value of a stream that never skips: each one in the log before KV says so.
      if (!this.holds(stream, seq)) throw new Error(`KV ${stream}=${put.value} ahead of the log (no ${seq})`);
    }
    if (put.value < (current?.value ?? 0)) throw new Error(`KV ${stream} lowered to ${put.value}`);
    this.kv.set(put.key, { value: put.value, revision: ++this.revision });
    put.resolve(this.revision);
  }

  state(): NatsStreamState {
    const cas = (key: string, value: string, expect: number) =>
      new Promise<number>((resolve, reject) =>
        this.puts.push({ key, value: Number(value), expect, resolve, reject }),
      );
    const kv = {
      get: (key: string) => {
        const held = this.kv.get(key);
        return Promise.resolve(
          held === undefined
            ? null
            : { operation: 'PUT', string: () => String(held.value), revision: held.revision },
        );
      },
      create: (key: string, value: string) => cas(key, value, 0),
      update: (key: string, value: string, revision: number) => cas(key, value, revision),
    } as unknown as KV;
    return new NatsStreamState(kv);
  }
}

const cfg = {
  ...queueConfig,
  sink: 'nats',
  natsSubject: 'cbsa.events',
  natsServers: ['nats://127.0.0.1:4222'],
};

type Step =
  | { kind: 'send'; client: number; frames: number }
  | { kind: 'process'; pick: number; stored: boolean; acked: boolean }
  | { kind: 'kv'; pick: number; ok: boolean }
  | { kind: 'recover' };

const healthyStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: sendStep,
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('process' as const),
      pick: fc.nat(40),
      stored: fc.constant(true),
      acked: fc.constant(true),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('kv' as const), pick: fc.nat(10), ok: fc.constant(true) }),
  },
);

const faultyStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: healthyStep },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('process' as const),
      pick: fc.nat(40),
      stored: fc.boolean(),
      acked: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('kv' as const), pick: fc.nat(10), ok: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'recover' as const }) },
);

async function simulate(pipeline: number, steps: Step[], shareStream: boolean) {
  const js = new FakeJetStream();
  const gaps = new Map<string, number>();
  const config = cfg as unknown as ConfigType<typeof appConfig>;
  // The real connection's outage bookkeeping, never connected: the sink's failures start an outage.
  const client = new NatsClient(config, fakeLogger);
  const nats = new NatsSink(config, fakeMetrics, fakeLogger, client);
  Object.assign(nats, { publisher: js.publisher(), state: js.state() });
  // Batches in flight together: appends called and not yet answered.
  let appending = 0;
  let maxAppending = 0;
  const append = nats.append.bind(nats);
  nats.append = (entries, store) => {
    maxAppending = Math.max(maxAppending, ++appending);
    return append(entries, store).finally(() => appending--);
  };
  const sink = queueOf(nats, { ...cfg, sinkPipeline: pipeline }, fakeStream(gaps));
  // Clients 0 and 1 may share a stream (a takeover: two connections of one stream on one instance).
  const clients = [0, 1, 2, 3].map((i) => new Client(`s${shareStream && i === 1 ? 0 : i}`));
  const shared = (client: Client) => shareStream && client.stream === 's0';

  const read = (client: Client) =>
    client.read(({ status, seq }) => {
      if (status === 'received') {
        expect(js.holds(client.stream, seq)).toBe(true);
        // Acked only once KV says so: a resume after any crash starts past it.
        expect(js.kvOf(client.stream)).toBeGreaterThanOrEqual(seq);
      } else {
        expect(status).toBe('duplicate');
        if (!shared(client)) expect(js.holds(client.stream, seq)).toBe(true);
        // A duplicate is answered only once KV covers it too: a resend after the window, to any
        // instance, is then a duplicate again.
        expect(js.kvOf(client.stream)).toBeGreaterThanOrEqual(seq);
      }
    });

  const apply = (s: Step) => {
    if (s.kind === 'send') clients[s.client].send(sink, s.frames);
    else if (s.kind === 'process') js.process(s.pick, s.stored, s.acked);
    else if (s.kind === 'kv') js.write(s.pick, s.ok);
    // The sink's probe finding the stream again (an outage ends).
    else Object.assign(client, { outageOn: false });
  };

  for (const s of steps) {
    apply(s);
    await turn();
    clients.forEach(read);
  }
  // Then a healthy broker, until every client has 1..10 answered.
  Object.assign(client, { outageOn: false });
  for (let rounds = 0; rounds < 1000; rounds++) {
    clients.forEach((c) => c.send(sink, Math.max(0, 11 - c.next)));
    await turn();
    while (js.waiting.length > 0 || js.puts.length > 0) {
      js.process(0, true, true);
      js.write(0, true);
      await turn();
    }
    await turn();
    clients.forEach(read);
    if (clients.every((c) => c.next > 10 && c.inFlight.length === 0 && c.rewind === undefined)) break;
  }
  for (const client of clients) {
    expect(client.next).toBeGreaterThan(10);
    const seqs = js.log.filter((e) => e.stream === client.stream).map((e) => e.seq);
    // Each seq once (JetStream's dedupe), and none missing (the client never skips a seq).
    expect(new Set(seqs).size).toBe(seqs.length);
    if (shared(client)) continue;
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs.map((_, i) => i + 1));
    // No gap reported: this client never skips a seq.
    expect(gaps.get(client.stream) ?? 0).toBe(0);
  }
  await sink.drain(1000);
  expect(sink.depth).toBe(0);
  return { clients, maxAppending };
}

describe(`${NatsSink.name} with batches in flight (property)`, () => {
  it('acks only what the log and KV hold, whatever fails and in whatever order the broker answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(faultyStep, { minLength: 1, maxLength: 80 }),
        fc.boolean(),
        async (pipeline, steps, share) => {
          await simulate(pipeline, steps, share);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses nothing when nothing fails, with up to SINK_PIPELINE batches in flight', async () => {
    let overlapping = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 6 }),
        fc.array(healthyStep, { minLength: 1, maxLength: 80 }),
        async (pipeline, steps) => {
          const { clients, maxAppending } = await simulate(pipeline, steps, false);
          expect(clients.map((c) => c.refusals)).toEqual([0, 0, 0, 0]);
          if (maxAppending > 1) overlapping++;
          expect(maxAppending).toBeLessThanOrEqual(pipeline);
        },
      ),
      { numRuns: 150 },
    );
    // The property is about batches in flight together: many runs must have had several.
    expect(overlapping).toBeGreaterThan(30);
  });
});
