// The delivery rules of a batch, written once: which entries are new, duplicates, refused (INVALID)
// or failed, and how a failure spreads within a stream. Pure: the engine reads and stores, these
// functions decide. memory/memory-log.ts and the NATS sink call them; the Redis append script
// (redis/redis-log.ts) runs the same steps under the same names; one contract spec
// (test/stream-log.contract.system-spec.ts) holds every engine to them.
//
// Step 1, planBatch: in frame order, each stream's first entry takes the stream's `baseline` (its
// last seq, checked against `after`), and each entry is `decide`d against the last seq its stream
// has reached in the batch so far, which `advance` moves on.
// Step 2, spreadFailures: once the engine tried to store the new entries, a stream's first FAILED
// entry fails every later entry of that stream in the batch, so no entry overtakes a refused one.
// An engine that stores inline (the script) folds step 2 into step 1: a failed store makes the
// stream UNREADABLE for the rest of the batch, which `decide` answers FAILED.
import { type AppendOutcome, DUPLICATE, FAILED, INVALID, type SinkEntry } from './stream-log.js';

/** A stream's state could not be read, or an entry of it failed earlier in the batch. */
export const UNREADABLE = -1;

/**
 * The last seq a batch's first entry of a stream is decided against. `last` is what the engine holds
 * (0: unknown, so the first seq is the stream's baseline; UNREADABLE). `after` (0: none) is the highest
 * seq of the stream that an earlier batch still in flight sends: a last seq below it means that batch
 * failed (or has not run yet), and nothing may overtake it, so the stream fails here too.
 */
export function baseline(last: number, after = 0): number {
  return last < 0 || last < after ? UNREADABLE : last;
}

/**
 * One entry of a stream against the last seq its stream has reached (`prev`): FAILED when UNREADABLE;
 * DUPLICATE at or below it; INVALID more than `maxGap` past a known last seq (prev 0 is unknown: any
 * seq is the baseline); else new, and the outcome is `prev` (the gap is seq - prev - 1).
 */
export function decide(prev: number, seq: number, maxGap: number): AppendOutcome {
  if (prev < 0) return FAILED;
  if (seq <= prev) return DUPLICATE;
  if (prev > 0 && seq - prev > maxGap) return INVALID;
  return prev;
}

/** The stream's last seq after an entry's outcome: a new entry's seq; after a failure, UNREADABLE. */
export function advance(prev: number, seq: number, outcome: AppendOutcome): number {
  if (outcome === FAILED) return UNREADABLE;
  return outcome >= 0 ? seq : prev;
}

/**
 * Step 1: each entry's outcome, as if every new entry were stored. `lastOf(stream, after)` is asked
 * once per stream, at its first entry, for the `baseline` the engine gives it (an engine that checks
 * `after` atomically returns baseline(last, after); one that checks it later, in step 2, may assume it
 * met). Entries without a stream (stream '') are new, with outcome 0: no seq, no rule.
 */
export function planBatch(
  entries: readonly SinkEntry[],
  lastOf: (stream: string, after: number) => number,
  maxGap: number,
): AppendOutcome[] {
  const outcomes: AppendOutcome[] = new Array<AppendOutcome>(entries.length);
  // Created at a batch's first stream: a batch of entries without one allocates nothing more.
  let reached: Map<string, number> | undefined;
  for (let i = 0; i < entries.length; i++) {
    const { stream, seq } = entries[i];
    if (stream === '') {
      outcomes[i] = 0;
      continue;
    }
    reached ??= new Map();
    let prev = reached.get(stream);
    if (prev === undefined) prev = lastOf(stream, entries[i].after ?? 0);
    const outcome = decide(prev, seq, maxGap);
    outcomes[i] = outcome;
    reached.set(stream, advance(prev, seq, outcome));
  }
  return outcomes;
}

/**
 * Step 2, in place: after the engine tried to store, in frame order per stream, everything after a
 * FAILED entry is FAILED too. `unmet(stream, after)`, when given, is asked once per stream at its first
 * entry: true fails all of the stream's entries (an engine that checks `after` only now, once the
 * earlier batches are recorded). Entries without a stream never fail others, nor are failed by them.
 */
export function spreadFailures(
  entries: readonly SinkEntry[],
  outcomes: AppendOutcome[],
  unmet?: (stream: string, after: number) => boolean,
): void {
  let failed: Set<string> | undefined;
  let checked: Set<string> | undefined;
  for (let i = 0; i < entries.length; i++) {
    const { stream } = entries[i];
    if (stream === '') continue;
    if (unmet !== undefined) {
      checked ??= new Set();
      if (!checked.has(stream)) {
        checked.add(stream);
        if (unmet(stream, entries[i].after ?? 0)) (failed ??= new Set()).add(stream);
      }
    }
    if (failed?.has(stream)) outcomes[i] = FAILED;
    else if (outcomes[i] === FAILED) (failed ??= new Set()).add(stream);
  }
}
