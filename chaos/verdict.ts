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
  refusedWhileHealthy: number;
  /** A seq in the log while an earlier one the client never skipped is missing. */
  holes: number;
  /** Unexpected frames, wrong seq or order, altered data, ack id not the stored one. */
  protocolErrors: number;
  /** Events still unconfirmed after the drain: the service stopped serving. */
  unconfirmed: number;
  /** Refusals the fault explains (broker down, the rate-limited client). */
  refusedInFault: number;
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
  /** The broker lost its data: from `from` (the old server seen gone) until `to` (ready again,
   * empty). Then only replies to frames the server took from `from` on, and resume frames from `to`
   * on, must be in the log; what the server took earlier may have been stored in the lost data. */
  loss?: { from: number; to: number };
}

export function judge({ fault, engine, sources, recorder, entries, windows, loss }: Judgement): Row {
  const notes = [...recorder.errors];
  let protocolErrors = recorder.errorCount;
  const byStream = new Map(sources.map((s) => [s.stream, s]));
  const count = new Map<string, number>();
  const logIds = new Map<number, string>();
  const reused = new Set(recorder.reusedIds);
  for (const entry of entries) {
    const key = `${entry.stream} ${entry.seq}`;
    count.set(key, (count.get(key) ?? 0) + 1);
    const source = byStream.get(entry.stream);
    if (source === undefined || entry.data !== source.text(entry.seq)) {
      protocolErrors++;
      if (notes.length < 30) notes.push(`log entry ${entry.position} is not what ${key} sent: ${entry.data}`);
    }
    for (const id of [entry.messageId]) {
      const other = logIds.get(id) ?? recorder.ackIds.get(id);
      if (other !== undefined && other !== key) reused.add(id);
      logIds.set(id, key);
    }
    const ackId = recorder.ackOf.get(key);
    if (
      ackId !== undefined &&
      (count.get(key) ?? 0) === 1 &&
      ackId !== entry.messageId &&
      loss === undefined
    ) {
      protocolErrors++;
      if (notes.length < 30)
        notes.push(`${key} acked as message_id ${ackId} but stored as ${entry.messageId}`);
    }
  }
  let duplicatedInLog = 0;
  for (const n of count.values()) duplicatedInLog += n - 1;

  let sent = 0;
  let ackedButMissing = 0;
  let holes = 0;
  let unconfirmed = 0;
  for (const source of sources) {
    sent += source.produced;
    unconfirmed += source.produced - source.confirmed.size;
    const resumedAfterLoss = Math.max(
      0,
      ...source.resumes.filter((r) => loss === undefined || r.at >= loss.to).map((r) => r.lastSeq),
    );
    const mustBeThere = (seq: number): boolean => {
      const confirmation = source.confirmed.get(seq);
      if (confirmation === undefined) return false;
      if (loss === undefined) return true;
      return (confirmation.lastAt ?? -Infinity) >= loss.from || seq <= resumedAfterLoss;
    };
    for (const [seq, confirmation] of source.confirmed) {
      if (mustBeThere(seq) && !count.has(`${source.stream} ${seq}`)) {
        ackedButMissing++;
        if (notes.length < 30)
          notes.push(`${source.stream} ${seq} confirmed (${confirmation.how}) but not in the log`);
      }
    }
    for (let seq = 2; seq <= source.produced; seq++) {
      if (!count.has(`${source.stream} ${seq}`) || count.has(`${source.stream} ${seq - 1}`)) continue;
      // After the broker lost its data, what was confirmed before the loss may be missing.
      if (source.confirmed.has(seq - 1) && !mustBeThere(seq - 1)) continue;
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
    refusedWhileHealthy,
    holes,
    protocolErrors,
    unconfirmed,
    refusedInFault,
    closeCodes: Object.fromEntries(recorder.closes),
    closes: [...recorder.closes]
      .sort(([a], [b]) => a - b)
      .map(([code, n]) => `${code}×${n}`)
      .join(' '),
    notes,
  };
}
