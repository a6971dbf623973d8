import { parseMonitorParams } from './monitor-params.js';
import { type Candidate, Sampler, matches, remoteCandidate, splitEvents } from './selection.js';

const event = (i: number, over: Partial<Candidate> = {}): Candidate => ({
  text: `{"n":${i}}`,
  error: false,
  category: 'touch',
  clientId: 'c1',
  data: { user_id: `u${i % 3}`, session_id: 's1' },
  ...over,
});

describe('monitor selection', () => {
  it('parses sample and ANDed filter terms, repeated or space-separated', () => {
    expect(
      parseMonitorParams('/ws/monitor?sample=300&filter=user_id:u1%20category:touch&filter=status:error'),
    ).toEqual({
      ok: true,
      params: {
        sample: 300,
        filter: [
          { field: 'user_id', value: 'u1' },
          { field: 'category', value: 'touch' },
          { field: 'status', value: 'error' },
        ],
      },
    });
    expect(parseMonitorParams('/ws/monitor')).toEqual({ ok: true, params: {} });
  });

  it.each([
    ['sample=0', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['sample=1.5', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['sample=abc', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['sample=1&sample=2', 'sample given more than once'],
    ['filter=colour:red', 'Unknown filter "colour"; use user_id:, session_id:, category:, status:, client:'],
    ['filter=user_id:', 'Filter user_id: needs a value of 1 to 256 characters'],
    ['filter=status:ok', 'Filter status: takes only "error"'],
    ['filter=', 'filter is empty'],
  ])('refuses %s with a message', (query, message) => {
    expect(parseMonitorParams(`/ws/monitor?${query}`)).toEqual({ ok: false, message });
  });

  it('matches every term exactly', () => {
    const e = event(1);
    expect(matches(e, [{ field: 'user_id', value: 'u1' }])).toBe(true);
    expect(
      matches(e, [
        { field: 'user_id', value: 'u1' },
        { field: 'category', value: 'gesture' },
      ]),
    ).toBe(false);
    expect(
      matches(e, [
        { field: 'client', value: 'c1' },
        { field: 'session_id', value: 's1' },
      ]),
    ).toBe(true);
    expect(matches(e, [{ field: 'status', value: 'error' }])).toBe(false);
    expect(matches(event(1, { error: true, data: undefined }), [{ field: 'status', value: 'error' }])).toBe(
      true,
    );
    expect(matches(event(1, { data: { user_id: 7 } }), [{ field: 'user_id', value: '7' }])).toBe(true);
  });

  it('samples at most N per second in any window, spread over flushes, errors first, in order', () => {
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const sampler = new Sampler(100, 50, random);
    const sent: { at: number; texts: string[] }[] = [];
    for (let t = 0; t < 3000; t += 50) {
      const batch = Array.from({ length: 200 }, (_, i) =>
        event(t * 1000 + i, { error: i === 7 || i === 150 }),
      );
      const picked = sampler.pick(batch, t);
      sent.push({ at: t, texts: picked.map((c) => c.text) });
      expect(picked.filter((c) => c.error)).toHaveLength(2);
      const order = picked.map((c) => batch.indexOf(c));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    for (let start = 0; start < 3000; start += 50) {
      const inWindow = sent.filter((s) => s.at >= start && s.at < start + 1000);
      expect(inWindow.reduce((n, s) => n + s.texts.length, 0)).toBeLessThanOrEqual(100);
    }
    expect(sent.every((s) => s.texts.length === 5)).toBe(true);
  });

  it('keeps a quarter of every second for errors: ordinary events first in the window never crowd them out', () => {
    const sampler = new Sampler(20, 50, () => 0.5);
    const flood = (t: number) => Array.from({ length: 100 }, (_, i) => event(t * 100 + i));
    const picked: Candidate[] = [];
    // Ordinary floods, one event per flush (the share of 20/s at 50 ms), stop at 15 of the 20...
    for (let t = 0; t <= 750; t += 50) picked.push(...sampler.pick(flood(t), t));
    expect(picked).toHaveLength(15);
    // ...so the errors in the rest of that second all get through, one per flush or all at once,
    for (const [t, errors] of [
      [800, 1],
      [850, 1],
      [900, 3],
    ]) {
      const chosen = sampler.pick(
        [...flood(t), ...Array.from({ length: errors }, (_, i) => event(i, { error: true }))],
        t,
      );
      expect(chosen).toHaveLength(errors);
      expect(chosen.every((c) => c.error)).toBe(true);
      picked.push(...chosen);
    }
    // ...and the window never holds more than N.
    expect(picked).toHaveLength(20);
    expect(sampler.pick([event(1, { error: true })], 950)).toEqual([]);
    // A second later the window has moved on.
    expect(sampler.pick([event(2, { error: true })], 1800)).toHaveLength(1);
  });

  it('splits a comma-joined batch at top-level commas only, strings and nesting included', () => {
    const parts = ['{"a":"x,}\\",{","b":[1,{"c":2}]}', '{"d":[[[]]]}', '{"e":","}'];
    expect(splitEvents(parts.join(','))).toEqual(parts);
    expect(splitEvents('')).toEqual([]);
    expect(remoteCandidate('{"status":"error","category":null,"client_id":"k","preview":"x"}')).toEqual({
      text: '{"status":"error","category":null,"client_id":"k","preview":"x"}',
      error: true,
      category: null,
      clientId: 'k',
      data: undefined,
    });
  });
});
