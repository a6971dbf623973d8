// Frames of the resumable-stream protocol (opt-in with ?stream= or X-CBSA-Stream): the resume frame
// the server sends first, and the seq-bearing replies. Built by concatenation, like the seed acks:
// these are on the per-frame path.
import type { AckFrame, ErrorFrame } from './ingest-frames.js';

/** 1–200 characters of [A-Za-z0-9._:@-]; anything else is refused with HTTP 400 at the upgrade. */
export const STREAM_ID = /^[A-Za-z0-9._:@-]{1,200}$/;
export const STREAM_HEADER = 'x-cbsa-stream';

/**
 * The stream id an upgrade asks for: undefined when none (the seed contract), null when it is
 * invalid (HTTP 400), from `?stream=` or the X-CBSA-Stream header (both: they must agree).
 */
export function requestedStream(
  url: string | undefined,
  header: string | string[] | undefined,
): string | null | undefined {
  let params: URLSearchParams;
  try {
    params = new URL(url ?? '/', 'http://localhost').searchParams;
  } catch {
    return null;
  }
  const query = params.get('stream');
  const repeated = params.getAll('stream').length > 1;
  if (Array.isArray(header) || repeated) return null;
  if (query === null && header === undefined) return undefined;
  if (query !== null && header !== undefined && query !== header) return null;
  const id = query ?? header!;
  return STREAM_ID.test(id) ? id : null;
}

export const INVALID_SEQ = 'Invalid seq';
export const INVALID_SEQ_ACK = '{"status":"error","message":"' + INVALID_SEQ + '"}';
/** Close code for the older of two connections on one stream. */
export const CLOSE_STREAM_RESUMED = 4001;
export const STREAM_RESUMED_REASON = 'Stream resumed elsewhere';
/** Close code when the stream's state cannot be read (Redis unreachable): resume later. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** The first frame on a resumable connection: the highest seq the service has stored (0: none). */
export interface ResumeFrame {
  type: 'resume';
  stream: string;
  last_seq: number;
}

/** A frame with the next seq (or past a gap), taken: the ack carries the frame's seq. */
export interface SeqAckFrame extends AckFrame {
  seq: number;
}

/** A resent frame at or below the stream's last seq: already stored, so no id and not stored again. */
export interface DuplicateFrame {
  status: 'duplicate';
  server_timestamp: number;
  seq: number;
}

/** A frame on a resumable connection without a valid `seq` (see seqOf). */
export interface InvalidSeqFrame {
  status: 'error';
  message: typeof INVALID_SEQ;
}

/** Every reply on a resumable connection after the ResumeFrame: one per client frame, in frame order. */
export type ResumableReply = SeqAckFrame | DuplicateFrame | InvalidSeqFrame | ErrorFrame;

/** The stream id is restricted to characters that need no JSON escaping. */
export function resumeFrame(stream: string, lastSeq: number): string {
  return '{"type":"resume","stream":"' + stream + '","last_seq":' + lastSeq + '}';
}

/** A SeqAckFrame. */
export function receivedWithSeq(timestamp: string, messageId: number, seq: number): string {
  return (
    '{"status":"received","server_timestamp":' +
    timestamp +
    ',"message_id":' +
    messageId +
    ',"seq":' +
    seq +
    '}'
  );
}

/** A DuplicateFrame. */
export function duplicateReply(timestamp: string, seq: number): string {
  return '{"status":"duplicate","server_timestamp":' + timestamp + ',"seq":' + seq + '}';
}

/**
 * The seq of a parsed frame on a resumable connection: an integer from 1 to 2^53-1 in an object's own
 * `seq` property, or undefined (the frame is answered "Invalid seq").
 */
export function seqOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, 'seq')) {
    return undefined;
  }
  const seq = (value as { seq: unknown }).seq;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}
