// Property test of the ack queue with several batches in flight: resumable clients that resend from
// the first refused seq, against a fake engine that decides by the batch rules (batch-decision.ts),
// runs the batches in any order, and fails them at random: not run at all, or run with the reply
// lost (a timeout). After every step the log must have no hole, no duplicate, and every received
// ack and every duplicate reply must be for a seq in the log.
import fc from 'fast-check';
import { type ScheduleStep, schedule } from '../../test/support/log-contract.js';
import { QueueClient as Client, queueOf, turn } from '../../test/support/sink-queue.js';
import type { StreamEvent } from '../stream/stream-event.js';
import { baseline, planBatch } from '../sink/batch-decision.js';
import { type AppendOutcome, StreamLog, FAILED, type SinkEntry } from '../sink/stream-log.js';
import { AckQueue } from './ack-queue.js';

interface Call {
  entries: readonly SinkEntry[];
  resolve: (outcomes: AppendOutcome[]) => void;
}

/** An engine in memory: one log, one last seq per stream, batches run when a step says. */
class FakeEngine extends StreamLog {
  readonly calls: Call[] = [];
  readonly log: SinkEntry[] = [];
  readonly last = new Map<string, number>();
  up = true;
  maxCalls = 0;

  constructor(private readonly pipelining: boolean) {
    super();
  }

  get ready(): boolean {
    return this.up;
  }

  override get pipelined(): boolean {
    return this.pipelining;
  }

  append(entries: readonly SinkEntry[]): Promise<AppendOutcome[]> {
    return new Promise((resolve) => {
      this.calls.push({ entries, resolve });
      this.maxCalls = Math.max(this.maxCalls, this.calls.length);
    });
  }

  lastSeq(stream: string): Promise<number> {
    return Promise.resolve(this.last.get(stream) ?? 0);
  }

  /** Runs the batch atomically, as the script does: the rules are batch-decision.ts's. */
  run(entries: readonly SinkEntry[]): AppendOutcome[] {
    const outcomes = planBatch(
      entries,
      (stream, after) => baseline(this.last.get(stream) ?? 0, after),
      Number.MAX_SAFE_INTEGER,
    );
    entries.forEach((e, i) => {
      if (outcomes[i] < 0) return;
      this.log.push(e);
      this.last.set(e.stream, e.seq);
    });
    return outcomes;
  }
}

async function simulate(pipeline: number, steps: ScheduleStep[], shareStream: boolean): Promise<FakeEngine> {
  const engine = new FakeEngine(true);
  const sink = queueOf(engine, { sink: 'redis-stream', sinkPipeline: pipeline });
  // Clients 0 and 1 may share a stream (a takeover: two connections of one stream on one instance).
  const clients = [0, 1, 2, 3].map((i) => new Client(`s${shareStream && i === 1 ? 0 : i}`));
  const byStream = (stream: string) => engine.log.filter((e) => e.stream === stream).map((e) => e.seq);

  // Two clients of one stream each send 1, 2, ...: one may skip past the other's seqs (a gap the
  // client made, which is allowed), so there only order and uniqueness are checked.
  const shared = (client: Client) => shareStream && client.stream === 's0';
  const check = () => {
    for (const client of clients) {
      const seqs = byStream(client.stream);
      // No hole, no duplicate: the stream's log is 1..k in order (the client never skips a seq).
      if (!shared(client)) seqs.forEach((seq, i) => expect(seq).toBe(i + 1));
      else seqs.forEach((seq, i) => i === 0 || expect(seq).toBeGreaterThan(seqs[i - 1]));
    }
  };

  // Received means stored; so does duplicate, unless another client of the stream skipped it.
  const read = (client: Client) =>
    client.read(({ status, seq }) => {
      if (status === 'received' || !shared(client)) expect(byStream(client.stream)).toContain(seq);
    });

  const run = (pick: number, outcome: 'ok' | 'lost' | 'late') => {
    if (engine.calls.length === 0) return;
    const [call] = engine.calls.splice(pick % engine.calls.length, 1);
    if (outcome === 'lost') return call.resolve(call.entries.map(() => FAILED));
    const outcomes = engine.run(call.entries);
    check();
    call.resolve(outcome === 'ok' ? outcomes : call.entries.map(() => FAILED));
  };

  for (const s of steps) {
    if (s.kind === 'send') clients[s.client].send(sink, s.frames);
    else if (s.kind === 'rateLimit') clients[s.client].rateLimited(sink);
    else if (s.kind === 'run') run(s.pick, s.outcome);
    else engine.up = s.up;
    await turn();
    clients.forEach(read);
  }
  // Then a healthy engine, in order, until every client has 1..10 acked.
  engine.up = true;
  for (let rounds = 0; rounds < 500; rounds++) {
    clients.forEach((c) => c.send(sink, Math.max(0, 11 - c.next)));
    await turn();
    while (engine.calls.length > 0) run(0, 'ok');
    await turn();
    clients.forEach(read);
    if (clients.every((c) => c.next > 10 && c.inFlight.length === 0)) break;
  }
  for (const client of clients) {
    expect(client.next).toBeGreaterThan(10);
    // Every ack is in the log (checked as they came), and the log holds the stream with no hole.
    const seqs = byStream(client.stream);
    expect(seqs.length).toBeGreaterThanOrEqual(10);
  }
  await sink.drain(1000);
  expect(sink.depth).toBe(0);
  return engine;
}

describe(`${AckQueue.name} with batches in flight (property)`, () => {
  it('never leaves a hole or a duplicate in the log, and answers in frame order', async () => {
    let pipelined = 0;
    await fc.assert(
      fc.asyncProperty(...schedule, async (pipeline, steps, share) => {
        const engine = await simulate(pipeline, steps, share);
        if (engine.maxCalls > 1) pipelined++;
        expect(engine.maxCalls).toBeLessThanOrEqual(pipeline);
      }),
      { numRuns: 300 },
    );
    // The property is about concurrent batches: most runs must have had some.
    expect(pipelined).toBeGreaterThan(100);
  });

  it('without `after` checks (an engine that cannot pipeline) sends one batch at a time', async () => {
    const engine = new FakeEngine(false);
    const sink = queueOf(engine, { sink: 'redis-stream', sinkPipeline: 8 });
    const client = new Client('solo');
    for (let seq = 1; seq <= 50; seq++) {
      sink.append(
        client.conn,
        {
          messageId: null,
          clientId: 'c',
          timestamp: '1.000',
          route: { category: null } as StreamEvent['route'],
          size: 1,
          text: '{}',
          value: {},
          stream: 'solo',
          seq,
        },
        0,
      );
      if (seq % 10 === 0) await turn();
    }
    while (client.sent.length < 50) {
      await turn();
      expect(engine.calls.length).toBeLessThanOrEqual(1);
      const call = engine.calls.shift();
      if (call) {
        expect(call.entries.every((e) => e.after === 0)).toBe(true);
        call.resolve(engine.run(call.entries));
      }
    }
    expect(engine.maxCalls).toBe(1);
    expect(client.sent.map((r) => (JSON.parse(r) as { seq: number }).seq)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });
});
