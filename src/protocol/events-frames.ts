// How encoded events (encodeEvent, monitor-frames.ts) become "events" frames: comma-joined chunks
// (also what goes on the Redis bus), packed into frames of at most MONITOR_FRAME_MAX_BYTES, so a
// flush of huge events never builds a string near V8's limit. One event larger than the limit
// (MONITOR_EVENT_MAX_BYTES keeps them small) still goes out, in a frame of its own. The frames are
// spliced from the events' text, never parsed and serialised again. Node only (Buffer): the page
// takes its types from monitor-frames.ts.
import type { Encoded, EventsFrame } from './monitor-frames.js';

/** Comma-joined event JSON without brackets, its event count and its UTF-8 size. */
export interface EventChunk {
  events: string;
  count: number;
  bytes: number;
}

/** The fields an events frame carries before its events. */
export type EventsFrameFields = Pick<EventsFrame, 'replay' | 'sampled_from'>;

const FRAME_HEAD = '{"type":"events","events":[';
const FRAME_TAIL = ']}';
const OVERHEAD = FRAME_HEAD.length + FRAME_TAIL.length;

function frameHead(fields: EventsFrameFields): string {
  if (fields.replay === undefined && fields.sampled_from === undefined) return FRAME_HEAD;
  return (
    '{"type":"events",' +
    (fields.replay === true ? '"replay":true,' : '') +
    (fields.sampled_from === undefined ? '' : '"sampled_from":' + fields.sampled_from + ',') +
    '"events":['
  );
}

/** The replay when there is nothing to replay: the page knows history is complete. */
export const EMPTY_REPLAY_FRAME = Buffer.from(frameHead({ replay: true }) + FRAME_TAIL) as Encoded<
  EventsFrame,
  Buffer
>;

/** Groups serialised events into chunks whose frame would stay within `maxFrameBytes`. */
export function chunkEvents(events: readonly string[], maxFrameBytes: number): EventChunk[] {
  const chunks: EventChunk[] = [];
  let parts: string[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(event);
    if (parts.length > 0 && OVERHEAD + bytes + 1 + size > maxFrameBytes) {
      chunks.push({ events: parts.join(','), count: parts.length, bytes });
      parts = [];
      bytes = 0;
    }
    bytes += (parts.length > 0 ? 1 : 0) + size;
    parts.push(event);
  }
  if (parts.length > 0) chunks.push({ events: parts.join(','), count: parts.length, bytes });
  return chunks;
}

/** Packs chunks into encoded frames of at most `maxFrameBytes` (a larger chunk alone in its frame). */
export function eventsFrames(
  chunks: readonly EventChunk[],
  maxFrameBytes: number,
  fields: EventsFrameFields = {},
): Encoded<EventsFrame, Buffer>[] {
  const frames: Encoded<EventsFrame, Buffer>[] = [];
  const head = frameHead(fields);
  const overhead = head.length + FRAME_TAIL.length;
  let parts: string[] = [];
  let bytes = 0;
  const emit = () => {
    // Encoded once: ws would otherwise encode the string again for every monitor.
    frames.push(Buffer.from(head + parts.join(',') + FRAME_TAIL) as Encoded<EventsFrame, Buffer>);
    parts = [];
    bytes = 0;
  };
  for (const chunk of chunks) {
    if (chunk.count === 0) continue;
    if (parts.length > 0 && overhead + bytes + 1 + chunk.bytes > maxFrameBytes) emit();
    bytes += (parts.length > 0 ? 1 : 0) + chunk.bytes;
    parts.push(chunk.events);
  }
  if (parts.length > 0) emit();
  return frames;
}

/**
 * Splits comma-joined event JSON (a chunk, as on the bus) into one text per event, by scanning for
 * top-level commas outside strings: no recursion, whatever the nesting.
 */
export function splitEvents(joined: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < joined.length; i++) {
    const ch = joined.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) depth++;
    else if (ch === 125 || ch === 93) depth--;
    else if (ch === 44 && depth === 0) {
      out.push(joined.slice(start, i));
      start = i + 1;
    }
  }
  if (start < joined.length) out.push(joined.slice(start));
  return out;
}

/** Fields of a monitor event that carry (or describe) what the client sent. */
export const EVENT_DATA_FIELDS = ['data', 'preview', 'policy', 'truncated', 'errors'] as const;

/**
 * Comma-joined events (another instance's, from the bus) without their data fields, for an
 * instance on MONITOR_DATA=none; a text that is no JSON object is dropped. What is left is
 * re-encoded whole: it holds no client data, so no deep nesting.
 */
export function eventsWithoutData(joined: string): { count: number; events: string } {
  const events: string[] = [];
  for (const text of splitEvents(joined)) {
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      continue;
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) continue;
    for (const field of EVENT_DATA_FIELDS) delete (event as Record<string, unknown>)[field];
    events.push(JSON.stringify(event));
  }
  return { count: events.length, events: events.join(',') };
}
