import { chunkEvents, eventsFrames } from './events-frames.js';

const event = (i: number, pad: number) => JSON.stringify({ message_id: i, data: 'x'.repeat(pad) });

describe(chunkEvents.name, () => {
  it('keeps every event, in order, and each frame within the limit', () => {
    const events = Array.from({ length: 500 }, (_, i) => event(i, (i * 37) % 3000));
    const frames = eventsFrames(chunkEvents(events, 16 * 1024), 16 * 1024);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(16 * 1024);
    const seen = frames.flatMap(
      (f) => (JSON.parse(f.toString()) as { type: string; events: { message_id: number }[] }).events,
    );
    expect(seen.map((e) => e.message_id)).toEqual(events.map((_, i) => i));
    for (const f of frames) expect(JSON.parse(f.toString())).toMatchObject({ type: 'events' });
  });

  it('puts one event larger than the limit in a frame of its own', () => {
    const events = [event(1, 10), event(2, 40_000), event(3, 10)];
    const frames = eventsFrames(chunkEvents(events, 16 * 1024), 16 * 1024);
    expect(frames.map((f) => (JSON.parse(f.toString()) as { events: unknown[] }).events.length)).toEqual([
      1, 1, 1,
    ]);
  });

  it('counts multi-byte characters as bytes', () => {
    const events = Array.from({ length: 10 }, (_, i) => JSON.stringify({ i, s: 'é'.repeat(1000) }));
    for (const frame of eventsFrames(chunkEvents(events, 4096), 4096))
      expect(frame.length).toBeLessThanOrEqual(4096);
  });

  it('sends nothing for no events', () => {
    expect(eventsFrames(chunkEvents([], 4096), 4096)).toEqual([]);
  });
});
