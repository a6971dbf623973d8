// The verdict on one fault run, from the log itself: every confirmed event (ack, duplicate reply,
// or covered by a resume frame's last_seq) must be in the log once, no message id may name two
// events, and no frame may be refused while the broker is healthy.
import type { EventSource } from './client.js';
import type { LogEntry } from './log.js';
import type { Recorder } from './recorder.js';

export interface Row {
  fault: string;
  engine: string;
  /** Distinct events sent at least once. */
  sent: number;
  /** Distinct events answered `received`. */
  acked: number;
  duplicateReplies: number;
  inLog: number;
  ackedButMissing: number;
  duplicatedInLog: number;
  idsReused: number;
  /** Acked ids above (ms since 2026-01-01 UTC) x 1000 + 6e11 when acked. */
  idsAboveHeadroom: number;
  refusedWhileHealthy: number;
  /** A seq in the log while an earlier one the client never skipped is missing. */
  holes: number;
  /** Unexpected frames, wrong seq or order, altered data, ack id not the stored one. */
  protocolErrors: number;
  /** Events still unconfirmed after the drain: the service stopped serving. */
  unconfirmed: number;
  /** Refusals the fault explains (broker down, the rate-limited client). */
  refusedInFault: number;
  /** After an empty broker restart: confirmed events not in the log because they were stored in
   * the data the broker lost (read back from the old server's files). */
  inLostData: number;
  /** Close codes the clients saw, and how often. */
  closeCodes: Record<number, number>;
  closes: string;
  notes: string[];
  /** The run itself could not complete (a process did not start, ...). */
  error?: string;
}

/** The columns that must all be 0. */
export const MUST_BE_ZERO = [
  'ackedButMissing',
  'duplicatedInLog',
  'idsReused',
  'idsAboveHeadroom',
  'refusedWhileHealthy',
  'holes',
  'protocolErrors',
  'unconfirmed',
] as const satisfies readonly (keyof Row)[];

export function failures(row: Row): string[] {
  const broken = row.error === undefined ? [] : [`run failed: ${row.error}`];
  return MUST_BE_ZERO.filter((column) => row[column] !== 0)
    .map((column) => `${column}=${row[column]}`)
    .concat(broken);
}

export interface Judgement {
  fault: string;
  engine: string;
  sources: EventSource[];
  recorder: Recorder;
  entries: LogEntry[];
  /** Periods in which the broker was faulty or recovering; refusals inside them are explained. */
  windows: [number, number][];
  /**
   * The broker lost its data: from `from` (the old server seen gone) until `to` (ready again,
   * empty). What the server took before `from` may have been stored in the lost data; what it took
   * from `from` on cannot have been (see Confirmation.lastAt).
   */
  loss?: { from: number; to: number };
  /** With `loss`, when the engine can tell: every entry the old server held when it was killed. */
  lostEntries?: LogEntry[];
}

export function judge({
  fault,
  engine,
  sources,
  recorder,
  entries,
  windows,
  loss,
  lostEntries,
}: Judgement): Row {
  const notes = [...recorder.errors];
  let protocolErrors = recorder.errorCount;
  const byStream = new Map(sources.map((s) => [s.stream, s]));
  const logIds = new Map<number, string>();
  const reused = new Set(recorder.reusedIds);
  /** The message ids the lost data holds per `stream seq`. */
  const lostIds = new Map<string, Set<number>>();
  /**
   * After a data loss, whether the acked copy of `key` may have been stored in the lost data, so
   * the log may hold it again under another id: with the lost data at hand, when it holds the
   * acked id; without, when the ack answered a frame taken before the old server was gone.
   */
  const ackedCopyLost = (key: string, stream: string, seq: number, ackId: number): boolean => {
    if (loss === undefined) return false;
    if (lostEntries !== undefined) return lostIds.get(key)?.has(ackId) === true;
    const confirmation = byStream.get(stream)?.confirmed.get(seq);
    return confirmation !== undefined && (confirmation.lastAt ?? -Infinity) < loss.from;
  };
  /**
   * Counts one log's entries per `stream seq`; checks data and ids across both logs, and in the
   * live log that an acked event is stored under the id its ack gave (except where that copy was lost).
   */
  const tally = (log: LogEntry[], what: string, live: boolean): Map<string, number> => {
    const count = new Map<string, number>();
    for (const entry of log) {
      const key = `${entry.stream} ${entry.seq}`;
      count.set(key, (count.get(key) ?? 0) + 1);
      const source = byStream.get(entry.stream);
      if (source === undefined || entry.data !== source.text(entry.seq)) {
        protocolErrors++;
        if (notes.length < 30)
          notes.push(`${what} entry ${entry.position} is not what ${key} sent: ${entry.data}`);
      }
      const other = logIds.get(entry.messageId) ?? recorder.ackIds.get(entry.messageId);
      if (other !== undefined && other !== key) reused.add(entry.messageId);
      logIds.set(entry.messageId, key);
      if (!live) {
        let ids = lostIds.get(key);
        if (ids === undefined) lostIds.set(key, (ids = new Set()));
        ids.add(entry.messageId);
        continue;
      }
      const ackId = recorder.ackOf.get(key);
      if (
        ackId !== undefined &&
        count.get(key) === 1 &&
        ackId !== entry.messageId &&
        !ackedCopyLost(key, entry.stream, entry.seq, ackId)
      ) {
        protocolErrors++;
        if (notes.length < 30)
          notes.push(`${key} acked as message_id ${ackId} but stored as ${entry.messageId}`);
      }
    }
    return count;
  };
  // The lost data first, so an id it holds and the new log reuses is caught either way round.
  const lost = tally(lostEntries ?? [], 'lost data', false);
  const count = tally(entries, 'log', true);
  let duplicatedInLog = 0;
  for (const n of count.values()) duplicatedInLog += n - 1;
  for (const n of lost.values()) duplicatedInLog += n - 1;

  let sent = 0;
  let ackedButMissing = 0;
  let holes = 0;
  let unconfirmed = 0;
  /** Confirmed events missing from the log that the lost data explains. */
  let inLostData = 0;
  const sinceLoss = (at: number | undefined): string =>
    loss === undefined || at === undefined
      ? ''
      : `, taken ${at - loss.from} ms after the old server was gone, ${at - loss.to} ms after the new one was ready`;
  for (const source of sources) {
    sent += source.produced;
    unconfirmed += source.produced - source.confirmed.size;
    /**
     * Whether the log must hold this confirmed seq. After a data loss, what the server may have
     * stored before the old server was gone may be missing: with the lost data at hand, exactly
     * what it holds; without, whatever was confirmed by a reply to a frame taken before the loss or
     * by a resume frame that may cover a copy sent before it. A resume frame's last_seq is a
     * high-water mark: after an empty restart it can cover seqs stored only in the lost data.
     */
    const excusedByLoss = (seq: number): boolean => {
      const confirmation = source.confirmed.get(seq);
      if (loss === undefined || confirmation === undefined) return false;
      const takenAfter = (confirmation.lastAt ?? -Infinity) >= loss.from;
      if (lostEntries === undefined) return !takenAfter;
      return lost.has(`${source.stream} ${seq}`) && (confirmation.how === 'resume' || !takenAfter);
    };
    for (const [seq, confirmation] of source.confirmed) {
      if (count.has(`${source.stream} ${seq}`)) continue;
      if (excusedByLoss(seq)) {
        inLostData++;
        continue;
      }
      ackedButMissing++;
      if (notes.length < 30)
        notes.push(
          `${source.stream} ${seq} confirmed (${confirmation.how}${sinceLoss(confirmation.lastAt)}) but not in the log`,
        );
    }
    for (let seq = 2; seq <= source.produced; seq++) {
      if (!count.has(`${source.stream} ${seq}`) || count.has(`${source.stream} ${seq - 1}`)) continue;
      // After the broker lost its data, what was stored before the loss may be missing.
      if (excusedByLoss(seq - 1)) continue;
      holes++;
      if (notes.length < 30) notes.push(`${source.stream}: ${seq} is in the log but ${seq - 1} is not`);
    }
  }

  const inWindow = (at: number) => windows.some(([from, to]) => at >= from && at <= to);
  let refusedWhileHealthy = 0;
  let refusedInFault = 0;
  for (const refusal of recorder.refusals) {
    if (refusal.expected || inWindow(refusal.at)) refusedInFault++;
    else {
      refusedWhileHealthy++;
      if (notes.length < 30) notes.push(`"${refusal.message}" at ${new Date(refusal.at).toISOString()}`);
    }
  }

  return {
    fault,
    engine,
    sent,
    acked: recorder.ackOf.size,
    duplicateReplies: recorder.duplicates,
    inLog: entries.length,
    ackedButMissing,
    duplicatedInLog,
    idsReused: reused.size,
    idsAboveHeadroom: recorder.aboveHeadroom.size,
    refusedWhileHealthy,
    holes,
    protocolErrors,
    unconfirmed,
    refusedInFault,
    inLostData,
    closeCodes: Object.fromEntries(recorder.closes),
    closes: [...recorder.closes]
      .sort(([a], [b]) => a - b)
      .map(([code, n]) => `${code}×${n}`)
      .concat(recorder.givenUp > 0 ? [`given up by the client ×${recorder.givenUp}`] : [])
      .join(' '),
    notes,
  };
}
