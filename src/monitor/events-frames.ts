// How serialised events become "events" frames: comma-joined chunks (also what goes on the bus),
// packed into frames of at most MONITOR_FRAME_MAX_BYTES, so a flush of huge events never builds a
// string near V8's limit. One event larger than the limit (MONITOR_EVENT_MAX_BYTES keeps them
// small) still goes out, in a frame of its own.

/** Comma-joined event JSON without brackets, its event count and its UTF-8 size. */
export interface EventChunk {
  events: string;
  count: number;
  bytes: number;
}

const FRAME_HEAD = '{"type":"events","events":[';
const FRAME_TAIL = ']}';
const OVERHEAD = FRAME_HEAD.length + FRAME_TAIL.length;

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

/**
 * Packs chunks into encoded frames of at most `maxFrameBytes` (a larger chunk alone in its frame).
 * `fields` is JSON member text put before "events" in every frame, such as '"replay":true,'.
 */
export function eventsFrames(chunks: readonly EventChunk[], maxFrameBytes: number, fields = ''): Buffer[] {
  const frames: Buffer[] = [];
  const head = fields === '' ? FRAME_HEAD : '{"type":"events",' + fields + '"events":[';
  const overhead = head.length + FRAME_TAIL.length;
  let parts: string[] = [];
  let bytes = 0;
  const emit = () => {
    // Encoded once: ws would otherwise encode the string again for every monitor.
    frames.push(Buffer.from(head + parts.join(',') + FRAME_TAIL));
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
