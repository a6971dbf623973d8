import fc from 'fast-check';
import {
  CONTRACT_MAX_GAP,
  LOG_CASES,
  caseEntry,
  expected,
  runCase,
  runSchedule,
  schedule,
} from '../../../test/support/log-contract.js';
import { MemoryStreamState } from '../../stream/stream-state.js';
import { DUPLICATE } from '../stream-log.js';
import { MemoryLog } from './memory-log.js';

describe(MemoryLog.name, () => {
  const logOf = (state = new MemoryStreamState(1000, 60_000), now?: () => number) =>
    new MemoryLog(state, CONTRACT_MAX_GAP, now);

  describe('the log contract', () => {
    it.each(LOG_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      expect(await runCase(logOf(), c, 'm:')).toEqual(expected(c));
    });

    it.each(LOG_CASES.map((c) => [c.name, c] as const))('%s (store false: state only)', async (_name, c) => {
      expect(await runCase(logOf(), c, 'm:', false)).toEqual(expected(c));
    });
  });

  it('random schedules of the ack queue in front of it: no hole, no duplicate, every ack stored', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(...schedule, async (pipeline, steps, share) => {
        await runSchedule(logOf(), `r${run++}:`, pipeline, steps, share);
      }),
      { numRuns: 200 },
    );
  });

  it('is ready and pipelined: a batch is decided whole when appended', () => {
    const log = logOf();
    expect(log.ready).toBe(true);
    expect(log.pipelined).toBe(true);
  });

  it('keeps its seq state in MemoryStreamState, within its bounds, and counts it', async () => {
    const state = new MemoryStreamState(2, 60_000);
    const log = logOf(state, () => 1000);
    await log.append([caseEntry('', ['a', 1]), caseEntry('', ['b', 1]), caseEntry('', ['c', 1])]);
    expect(state.evictions).toBe(1);
    expect(await log.countStates()).toBe(2);
    // The evicted stream's state is gone: its first seq is a baseline again.
    expect(await log.lastSeq('a')).toBe(0);
    expect(await log.lastSeq('c')).toBe(1);
  });

  it('forgets a stream once its state expires (STREAM_STATE_TTL_S)', () => {
    let now = 0;
    const log = logOf(new MemoryStreamState(10, 1000), () => now);
    expect(log.appendNow([caseEntry('', ['a', 5])])).toEqual([0]);
    now = 900;
    expect(log.appendNow([caseEntry('', ['a', 5])])).toEqual([DUPLICATE]);
    now = 2000;
    expect(log.appendNow([caseEntry('', ['a', 5])])).toEqual([0]);
  });
});
