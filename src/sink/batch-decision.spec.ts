import { DUPLICATE, FAILED, INVALID, type SinkEntry } from './stream-log.js';
import { UNREADABLE, advance, baseline, decide, planBatch, spreadFailures } from './batch-decision.js';

const entry = (stream: string, seq: number, after = 0): SinkEntry => ({
  stream,
  seq,
  after,
  messageId: 1,
  clientId: 'c',
  timestamp: '1.000',
  category: '',
  data: '{}',
});

describe('batch decision', () => {
  it('baseline: the last seq, or UNREADABLE when unreadable or below `after`', () => {
    expect(baseline(0)).toBe(0);
    expect(baseline(7, 0)).toBe(7);
    expect(baseline(7, 7)).toBe(7);
    expect(baseline(6, 7)).toBe(UNREADABLE);
    expect(baseline(0, 1)).toBe(UNREADABLE);
    expect(baseline(UNREADABLE, 0)).toBe(UNREADABLE);
  });

  it('decide: FAILED, DUPLICATE, INVALID or new (the previous last seq)', () => {
    expect(decide(UNREADABLE, 5, 10)).toBe(FAILED);
    expect(decide(5, 5, 10)).toBe(DUPLICATE);
    expect(decide(5, 1, 10)).toBe(DUPLICATE);
    expect(decide(5, 16, 10)).toBe(INVALID);
    expect(decide(5, 15, 10)).toBe(5);
    expect(decide(5, 6, 10)).toBe(5);
    // Unknown (0): any seq is the baseline.
    expect(decide(0, 1000, 10)).toBe(0);
  });

  it('advance: a new seq moves the stream on, a failure makes it UNREADABLE, the rest leave it', () => {
    expect(advance(5, 6, 5)).toBe(6);
    expect(advance(0, 9, 0)).toBe(9);
    expect(advance(5, 3, DUPLICATE)).toBe(5);
    expect(advance(5, 99, INVALID)).toBe(5);
    expect(advance(5, 6, FAILED)).toBe(UNREADABLE);
  });

  it('planBatch asks each stream once, with its first entry’s `after`, and decides in frame order', () => {
    const asked: [string, number][] = [];
    const last: Record<string, number> = { a: 3, b: UNREADABLE };
    const outcomes = planBatch(
      [
        entry('a', 4, 2),
        entry('', 0),
        entry('b', 1),
        entry('a', 4, 9),
        entry('a', 20),
        entry('b', 2),
        entry('a', 5),
      ],
      (stream, after) => {
        asked.push([stream, after]);
        return baseline(last[stream] ?? 0, after);
      },
      10,
    );
    expect(asked).toEqual([
      ['a', 2],
      ['b', 0],
    ]);
    expect(outcomes).toEqual([3, 0, FAILED, DUPLICATE, INVALID, FAILED, 4]);
  });

  it('spreadFailures fails what follows a FAILED entry of its stream, and only of its stream', () => {
    const entries = [entry('a', 1), entry('b', 1), entry('a', 2), entry('', 0), entry('a', 3), entry('b', 2)];
    const outcomes = [0, 0, FAILED, FAILED, 2, DUPLICATE];
    spreadFailures(entries, outcomes);
    expect(outcomes).toEqual([0, 0, FAILED, FAILED, FAILED, DUPLICATE]);
  });

  it('spreadFailures fails a whole stream whose `after` is unmet, asking once per stream', () => {
    const entries = [entry('a', 6, 5), entry('b', 2, 1), entry('a', 7, 5), entry('', 0)];
    const outcomes = [5, 1, 6, 0];
    const asked: string[] = [];
    spreadFailures(entries, outcomes, (stream, after) => {
      asked.push(`${stream}:${after}`);
      return baseline(stream === 'a' ? 4 : 1, after) === UNREADABLE;
    });
    expect(asked).toEqual(['a:5', 'b:1']);
    expect(outcomes).toEqual([FAILED, 1, FAILED, 0]);
  });
});
