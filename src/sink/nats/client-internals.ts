// Every use of the NATS client's private internals, and nowhere else. They stay only while scenario
// 7's SINK=nats throughput measures at least 15% above the client's public API in the same run;
// @nats-io/* are pinned exactly in package.json, and test/nats-publisher.system-spec.ts fails when
// the client's behaviour under them changes.
import { MsgHdrsImpl, type Msg, type NatsConnection } from '@nats-io/transport-node';

/** Bytes of publishes buffered before the client writes them out (a hidden connect option). */
const PENDING_LIMIT = 4 * 1024 * 1024;

/**
 * For connect(): the client writes to the socket each time 32 KiB are pending (its default); a
 * batch's publishes are written in one go instead, at the end of the tick (one syscall per batch).
 */
export const pendingLimitOption = { pendingLimit: PENDING_LIMIT } as Record<string, unknown>;

/**
 * The part of the client's protocol handler (`nc.protocol`, outside its typed API but what its own
 * publish() ends in) that takes a ready frame: the same outbound buffer, flushed at the end of the
 * tick, kept across a reconnect. A client without it gets nc.publish() instead.
 */
export interface FrameWriter {
  sendCommand(frame: Uint8Array): void;
  noMorePublishing?: boolean;
  info?: { max_payload?: number };
}

export function frameWriterOf(nc: NatsConnection): FrameWriter | undefined {
  const protocol = (nc as unknown as { protocol?: Partial<FrameWriter> }).protocol;
  return typeof protocol?.sendCommand === 'function' ? (protocol as FrameWriter) : undefined;
}

/** A received message's subject as the bytes the client keeps (`_msg.subject`), sparing a TextDecoder call. */
export function subjectBytes(msg: Msg): Uint8Array | undefined {
  const raw = (msg as unknown as { _msg?: { subject?: unknown } })._msg?.subject;
  return raw instanceof Uint8Array ? raw : undefined;
}

/**
 * A header set already encoded (by natsHeaderBlock): publishing reads a header set only through
 * encode(), so one instance, given each message's bytes just before its publish, spares the
 * client's per-key canonicalisation, validation, map and string building. Not for reading.
 */
export class EncodedHeaders extends MsgHdrsImpl {
  bytes: Uint8Array<ArrayBuffer> = new Uint8Array(0);

  override encode(): Uint8Array {
    return this.bytes;
  }
}
