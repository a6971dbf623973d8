import { MemoryStreamState, entryBytes } from './stream-state.js';

describe(MemoryStreamState.name, () => {
  it('evicts the least recently used streams past its byte bound, and counts them', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `install-${String(i).padStart(3, '0')}:session`);
    const bound = 10 * entryBytes(ids[0]);
    const state = new MemoryStreamState(1_000_000, 60_000, bound);
    ids.forEach((id, i) => state.accept(id, i + 1, 1000));
    expect(state.size).toBe(10);
    expect(state.bytes).toBeLessThanOrEqual(bound);
    expect(state.evictions).toBe(90);
    expect(state.lastSeq(ids[0], 1000)).toBe(0);
    expect(state.lastSeq(ids[99], 1000)).toBe(100);
  });

  it('counts evictions past its count bound, but not expiry', () => {
    const state = new MemoryStreamState(2, 1000);
    state.accept('a', 1, 0);
    state.accept('b', 1, 0);
    state.accept('c', 1, 0);
    expect(state.evictions).toBe(1);
    state.sweep(5000);
    expect(state.size).toBe(0);
    state.accept('d', 1, 5000);
    expect(state.evictions).toBe(1);
    expect(state.bytes).toBe(entryBytes('d'));
  });

  it('holds bytes for a stream once, however often it is accepted', () => {
    const state = new MemoryStreamState(10, 1000, 1_000_000);
    for (let seq = 1; seq <= 50; seq++) state.accept('s', seq, 0);
    expect(state.bytes).toBe(entryBytes('s'));
    expect(state.evictions).toBe(0);
  });
});
