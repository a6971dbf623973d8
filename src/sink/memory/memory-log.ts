// The log port without Redis or a sink: each resumable stream's last seq in memory
// (MemoryStreamState, with its TTL, count and byte bounds and eviction counter), decided by the
// batch rules (batch-decision.ts). No event is kept: `store` true or false, only the seq state is
// recorded. A batch is decided whole when append() is called, so `after` is checked atomically.
import { type AppendOutcome, StreamLog, type SinkEntry } from '../stream-log.js';
import { baseline, planBatch } from '../batch-decision.js';
import type { MemoryStreamState } from '../../stream/stream-state.js';

export class MemoryLog extends StreamLog {
  constructor(
    private readonly state: MemoryStreamState,
    /** MAX_SEQ_GAP: a seq further than this past a known last seq is refused. */
    private readonly maxSeqGap: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  get ready(): boolean {
    return true;
  }

  override get pipelined(): boolean {
    return true;
  }

  append(entries: readonly SinkEntry[]): Promise<AppendOutcome[]> {
    return Promise.resolve(this.appendNow(entries));
  }

  /** append() without the promise, for a caller on the per-frame path. */
  appendNow(entries: readonly SinkEntry[]): AppendOutcome[] {
    const now = this.now();
    const outcomes = planBatch(
      entries,
      (stream, after) => baseline(this.state.lastSeq(stream, now), after),
      this.maxSeqGap,
    );
    // Nothing here can fail to store, so step 2 (spreadFailures) would change nothing.
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.stream !== '' && outcomes[i] >= 0) this.state.accept(entry.stream, entry.seq, now);
    }
    return outcomes;
  }

  lastSeq(stream: string): Promise<number> {
    return Promise.resolve(this.state.lastSeq(stream, this.now()));
  }

  override countStates(): Promise<number> {
    return Promise.resolve(this.state.size);
  }
}
