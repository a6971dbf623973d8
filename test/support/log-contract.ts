// The log port's contract as cases: batches appended in turn to one engine, and the outcome each
// entry must get. Every engine runs the same list: MemoryLog in its unit spec, and memory, Redis and
// JetStream in test/stream-log.contract.system-spec.ts. Stream names are prefixed per run, so runs
// share a broker without meeting.
import { DUPLICATE, type DurableSink, FAILED, INVALID, type SinkEntry } from '../../src/sink/durable-sink.js';

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

/** Runs a case against `log`, its streams prefixed with `prefix`; returns what the batches got. */
export async function runCase(
  log: DurableSink,
  c: LogCase,
  prefix: string,
  store = true,
): Promise<{ outcomes: number[][]; last: Record<string, number> }> {
  const outcomes: number[][] = [];
  for (const batch of c.batches) {
    outcomes.push(
      await log.append(
        batch.entries.map((e) => caseEntry(prefix, e)),
        store,
      ),
    );
  }
  const last: Record<string, number> = {};
  for (const stream of Object.keys(c.last)) last[stream] = await log.lastSeq(prefix + stream);
  return { outcomes, last };
}

/** What runCase must return for `c`. */
export function expected(c: LogCase): { outcomes: number[][]; last: Record<string, number> } {
  return { outcomes: c.batches.map((b) => b.expect), last: c.last };
}
