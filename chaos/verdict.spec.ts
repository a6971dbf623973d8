import { EventSource } from './client.js';
import type { LogEntry } from './log.js';
import { Recorder } from './recorder.js';
import { type Judgement, judge } from './verdict.js';

const T0 = 1_000_000;

/** A stream with `produced` events sent and the given seqs acked (message id 100 + seq). */
function setup(produced: number, acked: number[]) {
  const source = new EventSource('phone-1:s', { ratePerSec: 0, maxEvents: 1000 });
  source.producing = false;
  source.produced = produced;
  const recorder = new Recorder();
  for (const seq of acked) {
    recorder.acked(source.stream, seq, 100 + seq);
    source.confirm(seq, 'ack', T0 + seq);
  }
  return { source, recorder };
}

function entry(source: EventSource, seq: number, messageId = 100 + seq): LogEntry {
  return { position: `${seq}-0`, stream: source.stream, seq, messageId, data: source.text(seq) };
}

function verdict(j: Partial<Judgement> & Pick<Judgement, 'sources' | 'recorder' | 'entries'>) {
  const row = judge({ fault: 'f', engine: 'e', windows: [], ...j });
  return {
    sent: row.sent,
    acked: row.acked,
    inLog: row.inLog,
    ackedButMissing: row.ackedButMissing,
    duplicatedInLog: row.duplicatedInLog,
    idsReused: row.idsReused,
    idsAboveHeadroom: row.idsAboveHeadroom,
    refusedWhileHealthy: row.refusedWhileHealthy,
    holes: row.holes,
    protocolErrors: row.protocolErrors,
    unconfirmed: row.unconfirmed,
  };
}

const CLEAN = {
  ackedButMissing: 0,
  duplicatedInLog: 0,
  idsReused: 0,
  idsAboveHeadroom: 0,
  refusedWhileHealthy: 0,
  holes: 0,
  protocolErrors: 0,
  unconfirmed: 0,
};

describe(judge.name, () => {
  it('finds nothing wrong when every acked event is in the log once', () => {
    const { source, recorder } = setup(3, [1, 2, 3]);
    const entries = [1, 2, 3].map((seq) => entry(source, seq));
    expect(verdict({ sources: [source], recorder, entries })).toEqual({
      sent: 3,
      acked: 3,
      inLog: 3,
      ...CLEAN,
    });
  });

  it('counts an acked event missing from the log, and the hole it leaves', () => {
    const { source, recorder } = setup(3, [1, 2, 3]);
    const entries = [1, 3].map((seq) => entry(source, seq));
    expect(verdict({ sources: [source], recorder, entries })).toEqual({
      sent: 3,
      acked: 3,
      inLog: 2,
      ...CLEAN,
      ackedButMissing: 1,
      holes: 1,
    });
  });

  it('counts an event stored twice, and an id that names two events', () => {
    const { source, recorder } = setup(3, [1, 2, 3]);
    const entries = [entry(source, 1), entry(source, 2), entry(source, 2, 102), entry(source, 3, 101)];
    expect(verdict({ sources: [source], recorder, entries })).toEqual({
      sent: 3,
      acked: 3,
      inLog: 4,
      ...CLEAN,
      duplicatedInLog: 1,
      idsReused: 1,
      // seq 3 was acked as 103 but stored as 101
      protocolErrors: 1,
    });
  });

  it('counts acked ids above the time floor + 6e11 (the id headroom rule)', () => {
    const { source, recorder } = setup(2, [1]);
    const floorNow = (Date.now() - Date.UTC(2026, 0, 1)) * 1000;
    recorder.acked(source.stream, 2, floorNow + 6e11 + 1e9);
    source.confirm(2, 'ack', T0 + 2);
    const entries = [entry(source, 1), entry(source, 2, floorNow + 6e11 + 1e9)];
    expect(verdict({ sources: [source], recorder, entries })).toEqual({
      sent: 2,
      acked: 2,
      inLog: 2,
      ...CLEAN,
      idsAboveHeadroom: 1,
    });
  });

  it('counts refusals outside the fault windows only', () => {
    const { source, recorder } = setup(2, [1, 2]);
    recorder.refused('Service unavailable', T0 + 10, false);
    recorder.refused('Service unavailable', T0 + 500, false);
    recorder.refused('Rate limit exceeded', T0 + 900, true);
    const entries = [1, 2].map((seq) => entry(source, seq));
    expect(verdict({ sources: [source], recorder, entries, windows: [[T0 + 400, T0 + 600]] })).toEqual({
      sent: 2,
      acked: 2,
      inLog: 2,
      ...CLEAN,
      refusedWhileHealthy: 1,
    });
  });

  it('after the broker lost its data, holds only what was confirmed afterwards to the log', () => {
    const { source, recorder } = setup(4, [1, 2, 3, 4]);
    // 1 and 2 were acked before the loss and are gone; 3 was acked after it and is gone too.
    const entries = [entry(source, 4)];
    expect(verdict({ sources: [source], recorder, entries, loss: { from: T0 + 2.5, to: T0 + 2.7 } })).toEqual(
      {
        sent: 4,
        acked: 4,
        inLog: 1,
        ...CLEAN,
        ackedButMissing: 1,
        holes: 1,
      },
    );
  });

  it('does not hold a resume frame after the loss to seqs stored only in the lost data (the empty-restart finding)', () => {
    // 1-2 acked before the loss, stored in the old server only; 3-4 stored in the new one, their
    // acks lost with the connection; the reconnect's resume frame (read from the new server) says
    // last_seq 4, a high-water mark that also covers 1-2.
    const { source, recorder } = setup(4, [1, 2]);
    source.confirm(3, 'resume', T0 + 10);
    source.confirm(4, 'resume', T0 + 10);
    source.resumes.push({ at: T0 + 10, lastSeq: 4 });
    const loss = { from: T0 + 5, to: T0 + 6 };
    const entries = [3, 4].map((seq) => entry(source, seq));
    const lostEntries = [1, 2].map((seq) => entry(source, seq));
    const clean = { sent: 4, acked: 2, inLog: 2, ...CLEAN };
    expect(verdict({ sources: [source], recorder, entries, loss, lostEntries })).toEqual(clean);
    expect(
      judge({ fault: 'f', engine: 'e', windows: [], sources: [source], recorder, entries, loss, lostEntries })
        .inLostData,
    ).toBe(2);
    // Without the lost data, by time alone: 1-2 were taken before the old server was gone.
    expect(verdict({ sources: [source], recorder, entries, loss })).toEqual(clean);
  });

  it('with the lost data at hand, counts what was acked before the loss and is in neither log', () => {
    const { source, recorder } = setup(3, [1, 2, 3]);
    const loss = { from: T0 + 5, to: T0 + 6 };
    // 2 was acked before the loss but the old server never held it; 1 is there with an id that the
    // new log uses again for 3.
    const lostEntries = [entry(source, 1)];
    const entries = [entry(source, 3, 101)];
    expect(verdict({ sources: [source], recorder, entries, loss, lostEntries })).toEqual({
      sent: 3,
      acked: 3,
      inLog: 1,
      ...CLEAN,
      ackedButMissing: 1,
      holes: 1,
      idsReused: 1,
      // 3 was acked as 103 before the loss, and the lost data does not hold it: its id must match.
      protocolErrors: 1,
    });
  });

  it('after a data loss, excuses an ack id that differs from the stored one only for events whose acked copy was lost', () => {
    const { source, recorder } = setup(4, [1, 2, 3, 4]);
    const loss = { from: T0 + 2.5, to: T0 + 2.7 };
    // 1-2 were acked before the loss and stored again after it under new ids: excused. 3-4 were
    // acked after the loss: the log must hold them under their acked ids, and 4 is not.
    const entries = [entry(source, 1, 201), entry(source, 2, 202), entry(source, 3), entry(source, 4, 999)];
    expect(verdict({ sources: [source], recorder, entries, loss })).toEqual({
      sent: 4,
      acked: 4,
      inLog: 4,
      ...CLEAN,
      protocolErrors: 1,
    });
    // With the lost data at hand: only 1's acked copy is in it, so 2's new id is an error too.
    const lostEntries = [entry(source, 1)];
    expect(verdict({ sources: [source], recorder, entries, loss, lostEntries })).toEqual({
      sent: 4,
      acked: 4,
      inLog: 4,
      ...CLEAN,
      protocolErrors: 2,
    });
  });

  it('holds a resume frame to what was sent only after the loss', () => {
    const { source, recorder } = setup(3, [1]);
    // 2-3 confirmed by a resume frame; 2 was first sent before the loss, 3 only after it.
    source.confirm(2, 'resume', T0 + 4);
    source.confirm(3, 'resume', T0 + 8);
    const loss = { from: T0 + 5, to: T0 + 6 };
    expect(verdict({ sources: [source], recorder, entries: [], loss })).toEqual({
      sent: 3,
      acked: 1,
      inLog: 0,
      ...CLEAN,
      ackedButMissing: 1,
    });
  });

  it('counts altered data and events never confirmed', () => {
    const { source, recorder } = setup(3, [1, 2]);
    const entries = [entry(source, 1), { ...entry(source, 2), data: '{"seq":2}' }];
    expect(verdict({ sources: [source], recorder, entries })).toEqual({
      sent: 3,
      acked: 2,
      inLog: 2,
      ...CLEAN,
      protocolErrors: 1,
      unconfirmed: 1,
    });
  });
});
