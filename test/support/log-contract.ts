// The log port's contract as cases: batches appended in turn to one engine, and the outcome each
// entry must get. Every engine runs the same list: MemoryLog in its unit spec, and memory, Redis and
// JetStream in test/stream-log.contract.system-spec.ts; and random schedules (runSchedule) of the
// ack queue in front of a real engine. Stream names are prefixed per run, so runs share a broker
// without meeting.
import fc from 'fast-check';
import {
  type AppendOutcome,
  DUPLICATE,
  StreamLog,
  FAILED,
  INVALID,
  type SinkEntry,
} from '../../src/sink/stream-log.js';
import { QueueClient, queueOf, sendStep, turn } from './sink-queue.js';

/** The MAX_SEQ_GAP the engines under contract run with. */
export const CONTRACT_MAX_GAP = 100;

/** One entry: [stream ('' for none), seq, options]. */
export type CaseEntry = [string, number, { after?: number; quarantine?: boolean }?];

export interface LogCase {
  name: string;
  /** Appended in turn; each entry's expected outcome beside it. */
  batches: { entries: CaseEntry[]; expect: number[] }[];
  /** Each stream's last seq afterwards. */
  last: Record<string, number>;
}

const G = CONTRACT_MAX_GAP;

export const LOG_CASES: LogCase[] = [
  {
    name: 'an unknown stream takes any first seq as its baseline',
    batches: [{ entries: [['a', 5]], expect: [0] }],
    last: { a: 5 },
  },
  {
    name: 'a first seq far past nothing is a baseline, not INVALID',
    batches: [{ entries: [['a', 10 * G]], expect: [0] }],
    last: { a: 10 * G },
  },
  {
    name: 'each new entry answers the last seq before it',
    batches: [
      {
        entries: [
          ['a', 1],
          ['a', 2],
          ['a', 3],
        ],
        expect: [0, 1, 2],
      },
      { entries: [['a', 4]], expect: [3] },
    ],
    last: { a: 4 },
  },
  {
    name: 'a seq at or below the last seq is a duplicate, across batches and within one',
    batches: [
      {
        entries: [
          ['a', 1],
          ['a', 2],
        ],
        expect: [0, 1],
      },
      {
        entries: [
          ['a', 2],
          ['a', 1],
          ['a', 3],
          ['a', 3],
        ],
        expect: [DUPLICATE, DUPLICATE, 2, DUPLICATE],
      },
    ],
    last: { a: 3 },
  },
  {
    name: 'a gap is stored and answers the last seq (the gap is seq - prev - 1)',
    batches: [
      { entries: [['a', 1]], expect: [0] },
      {
        entries: [
          ['a', 5],
          ['a', 9],
        ],
        expect: [1, 5],
      },
    ],
    last: { a: 9 },
  },
  {
    name: 'past MAX_SEQ_GAP above a known last seq is INVALID and changes nothing; at it is stored',
    batches: [
      { entries: [['a', 1]], expect: [0] },
      {
        entries: [
          ['a', 2 + G],
          ['a', 1 + G],
          ['a', 2 + G],
        ],
        expect: [INVALID, 1, 1 + G],
      },
    ],
    last: { a: 2 + G },
  },
  {
    name: 'an INVALID entry does not fail the entries after it',
    batches: [
      {
        entries: [
          ['a', 1],
          ['a', 3 + G],
          ['a', 2],
        ],
        expect: [0, INVALID, 1],
      },
    ],
    last: { a: 2 },
  },
  {
    name: '`after` unmet fails every entry of its stream in the batch, and only of its stream',
    batches: [
      {
        entries: [
          ['a', 1],
          ['a', 2],
          ['b', 1],
        ],
        expect: [0, 1, 0],
      },
      {
        entries: [
          ['a', 6, { after: 5 }],
          ['b', 2, { after: 1 }],
          ['a', 7, { after: 5 }],
          ['a', 1, { after: 5 }],
        ],
        expect: [FAILED, 1, FAILED, FAILED],
      },
    ],
    last: { a: 2, b: 2 },
  },
  {
    name: '`after` met (the last seq is at or above it) changes nothing',
    batches: [
      {
        entries: [
          ['a', 1],
          ['a', 2],
          ['a', 3],
        ],
        expect: [0, 1, 2],
      },
      {
        entries: [
          ['a', 4, { after: 3 }],
          ['a', 2, { after: 3 }],
        ],
        expect: [3, DUPLICATE],
      },
      { entries: [['a', 5, { after: 2 }]], expect: [4] },
    ],
    last: { a: 5 },
  },
  {
    name: '`after` on an unknown stream fails it: the earlier batch has not stored',
    batches: [
      {
        entries: [
          ['a', 2, { after: 1 }],
          ['b', 1],
        ],
        expect: [FAILED, 0],
      },
    ],
    last: { a: 0, b: 1 },
  },
  {
    name: 'an INVALID entry in an earlier batch leaves a later `after` past it unmet',
    batches: [
      {
        entries: [
          ['a', 1],
          ['a', 2 + G],
        ],
        expect: [0, INVALID],
      },
      { entries: [['a', 3 + G, { after: 2 + G }]], expect: [FAILED] },
      { entries: [['a', 2]], expect: [1] },
    ],
    last: { a: 2 },
  },
  {
    name: 'entries without a stream are stored with outcome 0, and meet no seq rule',
    batches: [
      {
        entries: [
          ['', 0],
          ['a', 1],
          ['', 0],
          ['a', 1],
          ['', 0],
        ],
        expect: [0, 0, 0, DUPLICATE, 0],
      },
      {
        entries: [
          ['a', 2, { after: 9 }],
          ['', 0],
        ],
        expect: [FAILED, 0],
      },
    ],
    last: { a: 1 },
  },
  {
    name: 'quarantined entries follow the same seq rules as the others',
    batches: [
      {
        entries: [
          ['a', 1, { quarantine: true }],
          ['a', 2],
          ['a', 2, { quarantine: true }],
          ['a', 3, { quarantine: true }],
        ],
        expect: [0, 1, DUPLICATE, 2],
      },
      {
        entries: [
          ['a', 4 + G, { quarantine: true }],
          ['a', 4],
        ],
        expect: [INVALID, 3],
      },
    ],
    last: { a: 4 },
  },
  {
    name: 'streams interleaved in a batch are decided each on its own',
    batches: [
      {
        entries: [
          ['a', 1],
          ['b', 7],
          ['a', 2],
          ['b', 7],
          ['c', 3],
          ['b', 8],
        ],
        expect: [0, 0, 1, DUPLICATE, 0, 7],
      },
    ],
    last: { a: 2, b: 8, c: 3 },
  },
];

let counter = 0;

/** A SinkEntry for a case entry, its stream under `prefix`. */
export function caseEntry(prefix: string, [stream, seq, options]: CaseEntry): SinkEntry {
  counter++;
  return {
    stream: stream === '' ? '' : prefix + stream,
    seq,
    messageId: counter,
    clientId: 'contract',
    timestamp: '1.000',
    category: '',
    data: `{"seq":${seq},"n":${counter}}`,
    after: options?.after ?? 0,
    ...(options?.quarantine === true && { quarantine: '[{"message":"contract"}]' }),
  };
}

/**
 * Runs a case against `log`, its streams prefixed with `prefix`; returns what the batches got. Each
 * entry sent, with its outcome, is added to `sent` when given (to compare with the engine's log).
 */
export async function runCase(
  log: StreamLog,
  c: LogCase,
  prefix: string,
  store = true,
  sent?: { entry: SinkEntry; outcome: AppendOutcome }[],
): Promise<{ outcomes: number[][]; last: Record<string, number> }> {
  const outcomes: number[][] = [];
  for (const batch of c.batches) {
    const entries = batch.entries.map((e) => caseEntry(prefix, e));
    const got = await log.append(entries, store);
    outcomes.push(got);
    entries.forEach((entry, i) => sent?.push({ entry, outcome: got[i] }));
  }
  const last: Record<string, number> = {};
  for (const stream of Object.keys(c.last)) last[stream] = await log.lastSeq(prefix + stream);
  return { outcomes, last };
}

/**
 * What a log must hold of the entries sent, given as each stored entry's data: every entry answered
 * stored once, nothing answered DUPLICATE or INVALID, and nothing answered FAILED unless the engine
 * may have stored it before failing it (`failedMayBeStored`).
 */
export function checkLog(
  logged: readonly string[],
  sent: readonly { entry: SinkEntry; outcome: AppendOutcome }[],
  failedMayBeStored: boolean,
): void {
  const mine = new Set(sent.map(({ entry }) => entry.data));
  const held = logged.filter((data) => mine.has(data));
  expect(new Set(held).size).toBe(held.length);
  const stored = sent.filter(({ outcome }) => outcome >= 0).map(({ entry }) => entry.data);
  const maybe = new Set(sent.filter(({ outcome }) => outcome === FAILED).map(({ entry }) => entry.data));
  const must = new Set(stored);
  expect(held.filter((data) => must.has(data)).sort()).toEqual([...stored].sort());
  expect(held.filter((data) => !must.has(data) && !(failedMayBeStored && maybe.has(data)))).toEqual([]);
}

/** What runCase must return for `c`. */
export function expected(c: LogCase): { outcomes: number[][]; last: Record<string, number> } {
  return { outcomes: c.batches.map((b) => b.expect), last: c.last };
}

/** A step of a random schedule (as in the ack queue's property test, src/sink/stream-sink.property.spec.ts). */
export type ScheduleStep =
  | { kind: 'send'; client: number; frames: number }
  | { kind: 'rateLimit'; client: number }
  | { kind: 'run'; pick: number; outcome: 'ok' | 'lost' | 'late' }
  | { kind: 'engine'; up: boolean };

/**
 * Steps: clients send, a refusal comes from the rate limit, one of the batches in flight is run
 * (its reply kept, lost before it ran, or lost after: a timeout), the engine goes down or up.
 */
export const scheduleStep: fc.Arbitrary<ScheduleStep> = fc.oneof(
  { weight: 4, arbitrary: sendStep },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rateLimit' as const), client: fc.nat(3) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('run' as const),
      pick: fc.nat(7),
      outcome: fc.constantFrom('ok' as const, 'ok' as const, 'ok' as const, 'lost' as const, 'late' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('engine' as const), up: fc.boolean() }) },
);

/** A random schedule's arguments: batches in flight at most (SINK_PIPELINE), its steps, and whether clients share streams. */
export const schedule = [
  fc.integer({ min: 1, max: 6 }),
  fc.array(scheduleStep, { minLength: 1, maxLength: 80 }),
  fc.boolean(),
] as const;

interface Call {
  entries: readonly SinkEntry[];
  store: boolean;
  resolve: (outcomes: AppendOutcome[]) => void;
}

/**
 * A real engine behind a door the schedule opens: append() is held until a step runs it, in any
 * order, and the reply may be lost before or after the engine ran it. Records what the engine
 * answered stored (outcome >= 0), per stream in order: the engine's word, checked against its log.
 */
export class HeldEngine extends StreamLog {
  readonly calls: Call[] = [];
  readonly stored = new Map<string, number[]>();
  /** Seqs the engine answered DUPLICATE: it says the log holds them. */
  readonly duplicates = new Map<string, Set<number>>();
  up = true;
  maxCalls = 0;

  constructor(readonly engine: StreamLog) {
    super();
  }

  get ready(): boolean {
    return this.up && this.engine.ready;
  }

  override get pipelined(): boolean {
    return this.engine.pipelined;
  }

  append(entries: readonly SinkEntry[], store: boolean): Promise<AppendOutcome[]> {
    return new Promise((resolve) => {
      this.calls.push({ entries, store, resolve });
      this.maxCalls = Math.max(this.maxCalls, this.calls.length);
    });
  }

  lastSeq(stream: string): Promise<number> {
    return this.engine.lastSeq(stream);
  }

  async run(pick: number, outcome: 'ok' | 'lost' | 'late'): Promise<void> {
    if (this.calls.length === 0) return;
    const [call] = this.calls.splice(pick % this.calls.length, 1);
    if (outcome === 'lost') return call.resolve(call.entries.map(() => FAILED));
    const outcomes = await this.engine.append(call.entries, call.store);
    call.entries.forEach((e, i) => {
      if (outcomes[i] === DUPLICATE) {
        if (!this.duplicates.has(e.stream)) this.duplicates.set(e.stream, new Set());
        this.duplicates.get(e.stream)!.add(e.seq);
      }
      if (outcomes[i] < 0) return;
      const seqs = this.stored.get(e.stream) ?? [];
      seqs.push(e.seq);
      this.stored.set(e.stream, seqs);
    });
    call.resolve(outcome === 'ok' ? outcomes : call.entries.map(() => FAILED));
  }
}

export interface ScheduleOptions {
  /** The engine's log: each stream's seqs in log order (absent: an engine without one, as memory). */
  readLog?: (streams: string[]) => Promise<Map<string, number[]>>;
  /** Whether an entry answered FAILED may still be in the log (JetStream: published, PubAck lost). */
  failedMayBeStored?: boolean;
}

/**
 * One random schedule against `engine`, behind the real ack queue: four resumable clients (0 and 1
 * on one stream when `share`), which resend from the first refused seq. Throughout, every `received`
 * reply is for a seq the engine answered stored, and so is every `duplicate` one (but on a shared
 * stream, where one client may skip past the other's seqs; and where a FAILED entry may be stored,
 * the engine's DUPLICATE is enough, checked in its log at the end). At the end, with a healthy engine, every
 * client has every seq it sent (and at least 1..10) answered, and the log holds each seq once, with no hole, in order (unless
 * FAILED entries may be stored), and holds every seq acked.
 */
export async function runSchedule(
  engine: StreamLog,
  prefix: string,
  pipeline: number,
  steps: ScheduleStep[],
  share: boolean,
  options: ScheduleOptions = {},
): Promise<{ maxCalls: number }> {
  const held = new HeldEngine(engine);
  const sink = queueOf(held, { sink: 'redis-stream', sinkPipeline: pipeline });
  const clients = [0, 1, 2, 3].map((i) => new QueueClient(`${prefix}s${share && i === 1 ? 0 : i}`));
  const shared = (client: QueueClient) => share && client.stream === `${prefix}s0`;
  const acked = new Map<string, Set<number>>();
  const read = (client: QueueClient) =>
    client.read(({ status, seq }) => {
      if (status === 'received' || !shared(client)) {
        const stored = held.stored.get(client.stream) ?? [];
        // A duplicate of an entry stored but answered FAILED: the engine's word, checked in its log.
        if (
          status !== 'duplicate' ||
          !options.failedMayBeStored ||
          !held.duplicates.get(client.stream)?.has(seq)
        )
          expect(stored).toContain(seq);
        if (!acked.has(client.stream)) acked.set(client.stream, new Set());
        acked.get(client.stream)!.add(seq);
      }
    });

  // The highest seq each client sent: what the end resends up to.
  const top = clients.map(() => 0);
  for (const s of steps) {
    if (s.kind === 'send') clients[s.client].send(sink, s.frames);
    else if (s.kind === 'rateLimit') clients[s.client].rateLimited(sink);
    else if (s.kind === 'run') await held.run(s.pick, s.outcome);
    else held.up = s.up;
    clients.forEach((c, i) => (top[i] = Math.max(top[i], c.next - 1)));
    await turn();
    clients.forEach(read);
  }
  // Then a healthy engine, in order, until every client has every seq it ever sent answered (and
  // at least 1..10): a seq stored though answered FAILED is then resent too, so no hole is left.
  held.up = true;
  const target = top.map((t) => Math.max(10, t));
  for (let rounds = 0; rounds < 500; rounds++) {
    clients.forEach((c, i) => c.send(sink, Math.max(0, target[i] + 1 - c.next)));
    await turn();
    while (held.calls.length > 0) await held.run(0, 'ok');
    await turn();
    clients.forEach(read);
    if (clients.every((c, i) => c.next > target[i] && c.inFlight.length === 0 && c.rewind === undefined))
      break;
  }
  await sink.drain(1000);
  expect(sink.depth).toBe(0);

  const streams = [...new Set(clients.map((c) => c.stream))];
  const log = options.readLog === undefined ? held.stored : await options.readLog(streams);
  clients.forEach((client, i) => {
    expect(client.next).toBeGreaterThan(target[i]);
    const seqs = log.get(client.stream) ?? [];
    // Each seq once, and what the engine answered stored is in the log.
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const seq of held.stored.get(client.stream) ?? []) expect(seqs).toContain(seq);
    for (const seq of acked.get(client.stream) ?? []) expect(seqs).toContain(seq);
    if (shared(client)) return;
    // No hole: this client never skips a seq. In order, unless a FAILED entry may be stored ahead.
    const inOrder = seqs.map((_, i) => i + 1);
    if (options.failedMayBeStored) expect([...seqs].sort((a, b) => a - b)).toEqual(inOrder);
    else expect(seqs).toEqual(inOrder);
  });
  return { maxCalls: held.maxCalls };
}
