import {
  EMPTY_REPLAY_FRAME,
  chunkEvents,
  eventsFrames,
  eventsWithoutData,
  splitEvents,
} from './events-frames.js';
import type { EventsFrame } from './monitor-frames.js';

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

describe(eventsFrames.name, () => {
  it('puts the replay and sample fields before the events', () => {
    const chunks = chunkEvents(['{"message_id":1}', '{"message_id":2}'], 4096);
    const replay: EventsFrame = { type: 'events', replay: true, events: [] };
    expect(JSON.parse(EMPTY_REPLAY_FRAME.toString())).toEqual(replay);
    const parse = (f: Buffer) => JSON.parse(f.toString()) as EventsFrame;
    expect(eventsFrames(chunks, 4096, { replay: true }).map(parse)).toEqual([
      { type: 'events', replay: true, events: [{ message_id: 1 }, { message_id: 2 }] },
    ]);
    expect(eventsFrames(chunks, 4096, { sampled_from: 7 }).map(parse)).toEqual([
      { type: 'events', sampled_from: 7, events: [{ message_id: 1 }, { message_id: 2 }] },
    ]);
  });
});

describe(splitEvents.name, () => {
  it('splits a comma-joined batch at top-level commas only, strings and nesting included', () => {
    const parts = ['{"a":"x,}\\",{","b":[1,{"c":2}]}', '{"d":[[[]]]}', '{"e":","}'];
    expect(splitEvents(parts.join(','))).toEqual(parts);
    expect(splitEvents('')).toEqual([]);
  });

  it('gives back the events chunkEvents joined', () => {
    const events = Array.from({ length: 50 }, (_, i) => event(i, i * 10));
    const chunks = chunkEvents(events, 1024);
    expect(chunks.flatMap((c) => splitEvents(c.events))).toEqual(events);
  });
});

describe(eventsWithoutData.name, () => {
  it('drops what the client sent from every event, keeps the rest, and skips what is no JSON object', () => {
    const received = {
      message_id: 7,
      status: 'received',
      stream: 's:1',
      seq: 3,
      data: { x: [1, { y: 'a,b' }] },
      policy: { dropped: ['email'] },
      errors: ['/x'],
    };
    const truncated = { message_id: 8, status: 'received', truncated: true, preview: '{"secret":' };
    const malformed = { message_id: null, status: 'error', error: 'Malformed JSON', preview: '{bro' };
    const joined = [received, truncated, malformed].map((e) => JSON.stringify(e)).join(',') + ',[1],{bad';
    const { count, events } = eventsWithoutData(joined);
    expect(count).toBe(3);
    expect(JSON.parse(`[${events}]`)).toEqual([
      { message_id: 7, status: 'received', stream: 's:1', seq: 3 },
      { message_id: 8, status: 'received' },
      { message_id: null, status: 'error', error: 'Malformed JSON' },
    ]);
  });
});
