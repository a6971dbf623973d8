// The monitor page's integrity bookkeeping (public/js/integrity.js) over summaries of real monitor
// event shapes: last seq, gaps (count and last size), duplicates and resumes per stream.
import { summarize } from '../../public/js/events.js';
import {
  integrityText,
  newIntegrity,
  noteIntegrity,
  refusedClaimText,
  refusedClaims,
} from '../../public/js/integrity.js';
import type { MonitorEvent } from '../protocol/index.js';

// Some fields are of the wrong type on purpose: the page reads them as absent.
const event = (fields: Record<string, unknown>) =>
  summarize({
    message_id: fields.status === 'duplicate' ? null : 1,
    client_id: 'c1',
    status: 'received',
    server_timestamp: 1,
    path: ['client', 'ack'],
    category: 'touch',
    size: 2,
    stream: 's-1',
    data: {},
    ...fields,
  } as MonitorEvent);

describe('monitor page integrity', () => {
  it('reads stream, seq, gap, duplicate and resumed from a monitor event', () => {
    expect(event({ seq: 4, gap: 2, resumed: true })).toMatchObject({
      stream: 's-1',
      seq: 4,
      gap: 2,
      resumed: true,
      duplicate: false,
      status: 'received',
    });
    expect(event({ status: 'duplicate', seq: 3 })).toMatchObject({ duplicate: true, status: 'duplicate' });
    // Out-of-range or foreign values are not trusted.
    expect(event({ seq: -1, gap: 'x', resumed: 'yes' })).toMatchObject({ seq: null, gap: 0, resumed: false });
  });

  it('keeps the highest accepted seq, counts gaps with the last size, duplicates and resumes', () => {
    const it = newIntegrity();
    for (const fields of [
      { seq: 1 },
      { seq: 2 },
      { seq: 5, gap: 2 },
      { seq: 4, status: 'duplicate' },
      { seq: 6, resumed: true },
      { seq: 10, gap: 3 },
      { seq: 10, status: 'duplicate', resumed: true },
    ]) {
      noteIntegrity(it, event(fields));
    }
    expect(it).toEqual({ lastSeq: 10, gaps: 2, lastGap: 3, duplicates: 2, resumes: 2 });
    expect(integrityText(it)).toBe('seq 10 · 2 gaps (last 3) · 2 duplicates · 2 resumes');
    expect(integrityText(newIntegrity())).toBe('seq – · no gaps · 0 duplicates · 0 resumes');
  });
});

describe('monitor page refused stream claims', () => {
  it('keeps well-formed claims of an auth_refused frame and writes one line each', () => {
    const claims = refusedClaims({
      type: 'auth_refused',
      claims: [
        { stream: 'install-42:session-1', sub: 'install-666', reason: 'wrong_stream', at: 1764337000.5 },
        { stream: 'install-42:session-1', sub: null, reason: 'invalid', at: 1764337001 },
        { stream: '<img src=x>', sub: null, reason: 'invalid', at: 1 },
        { stream: 's', sub: 'x', reason: 'made-up', at: 1 },
        { stream: 's', sub: 'eyJhbGciOi token text', reason: 'invalid', at: 1 },
      ],
    });
    expect(claims).toHaveLength(2);
    expect(refusedClaimText(claims[0])).toMatch(
      /^\d\d:\d\d:\d\d · install-42:session-1 · claimed by install-666 · not its stream$/,
    );
    expect(refusedClaimText(claims[1])).toMatch(/ · install-42:session-1 · no valid token · invalid token$/);
    expect(refusedClaims({ type: 'auth_refused' })).toEqual([]);
  });
});
