import { parseMonitorParams } from './monitor-params.js';
import { type Candidate, Sampler, matches, remoteCandidate } from './selection.js';

const event = (i: number, over: Partial<Candidate> = {}): Candidate => ({
  text: `{"n":${i}}`,
  error: false,
  problem: false,
  stream: undefined,
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
    // A stream id holds colons itself: only the first one separates the field.
    expect(parseMonitorParams('/ws/monitor?filter=stream:install-1:session@2')).toEqual({
      ok: true,
      params: { filter: [{ field: 'stream', value: 'install-1:session@2' }] },
    });
  });

  it.each([
    ['sample=0', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['sample=1.5', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['sample=abc', 'sample must be an integer from 1 to 100000 (events per second)'],
    ['sample=1&sample=2', 'sample given more than once'],
    [
      'filter=colour:red',
      'Unknown filter "colour"; use stream:, user_id:, session_id:, category:, status:, client:',
    ],
    ['filter=user_id:', 'Filter user_id: needs a value of 1 to 256 characters'],
    ['filter=status:ok', 'Filter status: takes only "error"'],
    ['filter=', 'filter is empty'],
    ['filter=stream:a%22b', 'Filter stream: takes a stream id (1 to 200 of A-Z a-z 0-9 . _ : @ -)'],
    ['filter=stream:a/b', 'Filter stream: takes a stream id (1 to 200 of A-Z a-z 0-9 . _ : @ -)'],
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
    expect(matches(event(1, { stream: 'i:s' }), [{ field: 'stream', value: 'i:s' }])).toBe(true);
    expect(matches(event(1, { stream: 'i:s2' }), [{ field: 'stream', value: 'i:s' }])).toBe(false);
    expect(matches(event(1), [{ field: 'stream', value: 'i:s' }])).toBe(false);
  });

  it('samples at most N per second in any window, spread over flushes, errors first, in order', () => {
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const sampler = new Sampler(100, 50, random);
    const sent: { at: number; texts: string[] }[] = [];
    for (let t = 0; t < 3000; t += 50) {
      const batch = Array.from({ length: 200 }, (_, i) =>
        event(t * 1000 + i, { problem: i === 7 || i === 150 }),
      );
      const picked = sampler.pick(batch, t);
      sent.push({ at: t, texts: picked.map((c) => c.text) });
      expect(picked.filter((c) => c.problem)).toHaveLength(2);
      const order = picked.map((c) => batch.indexOf(c));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    for (let start = 0; start < 3000; start += 50) {
      const inWindow = sent.filter((s) => s.at >= start && s.at < start + 1000);
      expect(inWindow.reduce((n, s) => n + s.texts.length, 0)).toBeLessThanOrEqual(100);
    }
    expect(sent.every((s) => s.texts.length === 5)).toBe(true);
  });

  it('keeps a quarter of every second for problems: ordinary events first in the window never crowd them out', () => {
    const sampler = new Sampler(20, 50, () => 0.5);
    const flood = (t: number) => Array.from({ length: 100 }, (_, i) => event(t * 100 + i));
    const picked: Candidate[] = [];
    // Ordinary floods, one event per flush (the share of 20/s at 50 ms), stop at 15 of the 20...
    for (let t = 0; t <= 750; t += 50) picked.push(...sampler.pick(flood(t), t));
    expect(picked).toHaveLength(15);
    // ...so the problems in the rest of that second all get through, one per flush or all at once,
    for (const [t, problems] of [
      [800, 1],
      [850, 1],
      [900, 3],
    ]) {
      const chosen = sampler.pick(
        [...flood(t), ...Array.from({ length: problems }, (_, i) => event(i, { problem: true }))],
        t,
      );
      expect(chosen).toHaveLength(problems);
      expect(chosen.every((c) => c.problem)).toBe(true);
      picked.push(...chosen);
    }
    // ...and the window never holds more than N.
    expect(picked).toHaveLength(20);
    expect(sampler.pick([event(1, { problem: true })], 950)).toEqual([]);
    // A second later the window has moved on.
    expect(sampler.pick([event(2, { problem: true })], 1800)).toHaveLength(1);
  });

  it('samples uniformly: every ordinary event equally likely, every problem kept', () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const batch = Array.from({ length: 100 }, (_, i) => event(i, { problem: i % 25 === 3 }));
    const hits = new Array<number>(100).fill(0);
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      // A fresh sampler per trial: 200 per second at 50 ms flushes is a share of 10 per flush.
      const picked = new Sampler(200, 50, random).pick(batch, 0);
      expect(new Set(picked).size).toBe(10);
      for (const c of picked) hits[batch.indexOf(c)]++;
    }
    const problems = [3, 28, 53, 78];
    // Every problem always; the 96 others share the 6 other places uniformly.
    expect(problems.map((i) => hits[i])).toEqual([trials, trials, trials, trials]);
    const others = hits.filter((_, i) => !problems.includes(i));
    const expected = (trials * 6) / 96;
    for (const h of others) expect(Math.abs(h - expected)).toBeLessThan(expected * 0.3);
  });

  it('reads problems and the stream id from a bus event: gaps and duplicates are problems, not errors', () => {
    const gap =
      '{"message_id":5,"status":"received","category":"touch","client_id":"k","stream":"i:s","seq":9,"gap":3}';
    const dup =
      '{"message_id":null,"status":"duplicate","category":"touch","client_id":"k","stream":"i:s","seq":2}';
    const plain =
      '{"message_id":6,"status":"received","category":"touch","client_id":"k","stream":"i:s","seq":10}';
    expect([gap, dup, plain].map(remoteCandidate).map((c) => [c?.error, c?.problem, c?.stream])).toEqual([
      [false, true, 'i:s'],
      [false, true, 'i:s'],
      [false, false, 'i:s'],
    ]);
  });

  it('reads a malformed event from the bus as an error', () => {
    expect(remoteCandidate('{"status":"error","category":null,"client_id":"k","preview":"x"}')).toEqual({
      text: '{"status":"error","category":null,"client_id":"k","preview":"x"}',
      error: true,
      problem: true,
      stream: undefined,
      category: null,
      clientId: 'k',
      data: undefined,
    });
  });
});
