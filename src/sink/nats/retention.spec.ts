import { type ConsumerPosition, type RetentionSnapshot, deletionsBetween, snapshotOf } from './retention.js';

const at = (first: number, last: number, consumers: Record<string, ConsumerPosition>, gaps = 0) =>
  ({ first, last, gaps, consumers }) satisfies RetentionSnapshot;

/** A consumer that acked everything up to `floor`, had `delivered` and reads everything after it. */
const reader = (floor: number, delivered: number, last: number): ConsumerPosition => ({
  floor,
  delivered,
  ackPending: delivered - floor,
  pending: last - delivered,
});

describe(deletionsBetween.name, () => {
  it('counts the entries a consumer had not acked (pending and undelivered), not those it had', () => {
    const before = at(1, 30, { slow: reader(6, 10, 30), fast: reader(30, 30, 30) });
    const now = at(31, 30, { slow: reader(10, 10, 30), fast: reader(30, 30, 30) });
    expect(deletionsBetween(before, now)).toEqual({ deleted: 30, unread: 24, byConsumer: { slow: 24 } });
  });

  it('counts only the part of the log that left it', () => {
    const before = at(1, 100, { c: reader(20, 20, 100) });
    expect(deletionsBetween(before, at(51, 100, { c: reader(20, 20, 100) }))).toEqual({
      deleted: 50,
      unread: 30,
      byConsumer: { c: 30 },
    });
  });

  it('takes the slowest consumer once, not the sum', () => {
    const before = at(1, 10, { a: reader(0, 0, 10), b: reader(5, 5, 10) });
    const now = at(11, 10, { a: reader(0, 0, 10), b: reader(5, 5, 10) });
    expect(deletionsBetween(before, now)).toEqual({ deleted: 10, unread: 10, byConsumer: { a: 10, b: 5 } });
  });

  it('counts entries appended after the snapshot that left before the next one', () => {
    const before = at(31, 30, { slow: reader(10, 10, 30) });
    const now = at(41, 40, { slow: reader(10, 10, 30) });
    expect(deletionsBetween(before, now)).toEqual({ deleted: 10, unread: 10, byConsumer: { slow: 10 } });
  });

  it('does not count entries acked out of order above the floor', () => {
    // Delivered 1..50, acked all but 7: floor 6, one pending.
    const before = at(1, 50, { c: { floor: 6, delivered: 50, ackPending: 1, pending: 0 } });
    expect(deletionsBetween(before, at(51, 50, {})).unread).toBe(0);
    const now = at(51, 50, { c: { floor: 50, delivered: 50, ackPending: 0, pending: 0 } });
    expect(deletionsBetween(before, now)).toEqual({ deleted: 50, unread: 1, byConsumer: { c: 1 } });
  });

  it('bounds a filtered consumer by the entries it had pending, and skips erased gaps', () => {
    // The consumer matches 4 of the 20 entries; 5 of the 20 had been erased (gaps).
    const before = at(1, 20, { f: { floor: 0, delivered: 0, ackPending: 0, pending: 4 } }, 5);
    const now = at(21, 20, { f: { floor: 0, delivered: 0, ackPending: 0, pending: 0 } }, 0);
    expect(deletionsBetween(before, now)).toEqual({ deleted: 15, unread: 4, byConsumer: { f: 4 } });
  });

  it('counts nothing without consumers, for consumers that are new, or when nothing left', () => {
    expect(deletionsBetween(at(1, 10, {}), at(11, 10, {}))).toEqual({
      deleted: 10,
      unread: 0,
      byConsumer: {},
    });
    expect(deletionsBetween(at(1, 10, {}), at(11, 10, { c: reader(0, 0, 0) })).unread).toBe(0);
    const same = at(1, 10, { c: reader(0, 0, 10) });
    expect(deletionsBetween(same, at(1, 12, { c: reader(0, 0, 12) })).deleted).toBe(0);
  });

  it('starts over when the stream was deleted and created again', () => {
    const before = at(500, 900, { c: reader(0, 0, 900) });
    expect(deletionsBetween(before, at(1, 3, { c: reader(0, 0, 3) }))).toEqual({
      deleted: 0,
      unread: 0,
      byConsumer: {},
    });
  });
});

describe(snapshotOf.name, () => {
  it('keeps durable consumers only, and a new stream starts at 1', () => {
    const info = (name: string, durable: boolean) =>
      ({
        name,
        config: durable ? { durable_name: name } : {},
        ack_floor: { stream_seq: 2, consumer_seq: 2 },
        delivered: { stream_seq: 3, consumer_seq: 3 },
        num_ack_pending: 1,
        num_pending: 4,
      }) as unknown as Parameters<typeof snapshotOf>[1][number];
    expect(snapshotOf({ first_seq: 0, last_seq: 0 }, [info('d', true), info('eph', false)])).toEqual({
      first: 1,
      last: 0,
      gaps: 0,
      consumers: { d: { floor: 2, delivered: 3, ackPending: 1, pending: 4 } },
    });
  });
});
