// What the clients of one fault run saw: acks (with their message ids), duplicate replies,
// refusals (and whether the fault explains them), close codes and protocol errors.

/** The id headroom rule: an id handed out at t is at most (ms since 2026-01-01 UTC) x 1000 + 6e11. */
const FLOOR_T0_MS = Date.UTC(2026, 0, 1);
const ID_HEADROOM = 6e11;

export class Recorder {
  frames = 0;
  duplicates = 0;
  /** message_id -> the `stream seq` it acked, first seen. */
  readonly ackIds = new Map<number, string>();
  /** `stream seq` -> message_id of its last ack. */
  readonly ackOf = new Map<string, number>();
  /** Ids acked for two different events. */
  reusedIds = new Set<number>();
  /** Acked ids above the time floor + the headroom when their ack came. */
  readonly aboveHeadroom = new Set<number>();
  readonly refusals: { at: number; message: string; expected: boolean }[] = [];
  /** Close codes of connections the server or the network ended (or the client's stop(): 1000). */
  readonly closes = new Map<number, number>();
  /** Connections the client terminated itself: silent while owing replies, or a protocol error. */
  givenUp = 0;
  readonly errors: string[] = [];
  errorCount = 0;

  acked(stream: string, seq: number, messageId: number): void {
    const key = `${stream} ${seq}`;
    const known = this.ackIds.get(messageId);
    if (known === undefined) this.ackIds.set(messageId, key);
    else if (known !== key) this.reusedIds.add(messageId);
    this.ackOf.set(key, messageId);
    if (messageId > (Date.now() - FLOOR_T0_MS) * 1000 + ID_HEADROOM) this.aboveHeadroom.add(messageId);
  }

  duplicate(): void {
    this.duplicates++;
  }

  refused(message: string, at: number, expected: boolean): void {
    this.refusals.push({ at, message, expected });
  }

  closed(code: number): void {
    this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
  }

  gaveUp(): void {
    this.givenUp++;
  }

  protocolError(what: string): void {
    this.errorCount++;
    if (this.errors.length < 20) this.errors.push(what);
  }
}
