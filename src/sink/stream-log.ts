// The engine-neutral seam between the ack queue (src/ingest/ack-queue.ts) and a durable log. One implementation
// per engine: redis/redis-log.ts, nats/log.ts for NATS JetStream, memory/memory-log.ts without either.
// The queue decides when a frame is acked; the engine decides what is stored, atomically with the
// per-stream seq check, by the rules of batch-decision.ts.

/** One received event to append. `stream` is '' and `seq` 0 for a connection without a stream id. */
export interface SinkEntry {
  stream: string;
  seq: number;
  messageId: number;
  clientId: string;
  /** Seconds since the epoch, ms precision, as JSON number text. */
  timestamp: string;
  category: string;
  /** The client's JSON exactly as sent (as a field policy transformed it, if one applied). */
  data: string;
  /** Whose data it is (src/privacy/subject.ts): indexed for erasure when ADMIN_TOKEN is set; '' for nobody's. */
  subject?: string;
  /** The event failed its schema: its errors as JSON; it goes to the quarantine log (same seq rules). */
  quarantine?: string;
  /** Provenance: the token's `sub` and `kid` (JWT mode); '' or absent under static tokens. */
  sub?: string;
  kid?: string;
  /**
   * Expected predecessor: the highest seq of this stream in an earlier batch still in flight (absent
   * or 0: none). When above 0 the entry is stored only if the stream's last seq is at least this when
   * the engine checks it; otherwise it is FAILED, and so is every later entry of its stream in the
   * batch. So a later batch never stores past an earlier one that failed. Only engines with
   * `pipelined` get it.
   */
  after?: number;
}

/**
 * Per entry: a number >= 0 means stored, and is the stream's last seq before this entry (0: the
 * stream's state was unknown and this seq is its baseline, no gap; else the gap is seq - prev - 1
 * when positive; always 0 for entries without a stream); DUPLICATE means the seq was at or below
 * the stream's last seq, nothing was stored; FAILED means not stored, or stored and certain to be
 * answered DUPLICATE on resend (the engine dedupes by seq); INVALID means the seq jumped more than
 * MAX_SEQ_GAP past the stream's known last seq, nothing was stored ("Invalid seq").
 */
export type AppendOutcome = number;
export const DUPLICATE = -1;
export const FAILED = -2;
export const INVALID = -3;

export abstract class StreamLog {
  /** Whether appends can be attempted now (the engine is connected). */
  abstract get ready(): boolean;

  /**
   * Whether several batches may be in flight at once: the engine checks each entry's `after`
   * atomically with its append. Otherwise the queue sends one batch at a time (`after` always 0).
   */
  get pipelined(): boolean {
    return false;
  }

  /**
   * Appends a batch, in order. Never rejects: a failure is FAILED for the entries it touched. Within a
   * stream, an entry after a FAILED one must be FAILED too (no entry may overtake a refused one).
   * When `store` is false only the seq state is checked and recorded (no log: Redis bus mode).
   */
  abstract append(entries: readonly SinkEntry[], store: boolean): Promise<AppendOutcome[]>;

  /** The stream's last accepted (in sink mode: durably appended) seq; 0 when unknown. Rejects when unreachable. */
  abstract lastSeq(stream: string): Promise<number>;

  /**
   * How many streams have a seq state in the engine (cbsa_stream_states); none without one.
   * Rejects when the engine cannot be asked.
   */
  countStates(): Promise<number> {
    return Promise.resolve(0);
  }
}
