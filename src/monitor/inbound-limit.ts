// What a monitor may send: monitors only listen, so their frames are small and rare. A monitor over
// either limit is closed with 1008 rather than having its frames parsed and thrown away forever.
import {
  MONITOR_FRAME_TOO_LARGE_REASON,
  MONITOR_INBOUND_FRAMES_PER_SECOND,
  MONITOR_INBOUND_MAX_BYTES,
  MONITOR_TOO_MANY_FRAMES_REASON,
} from '../protocol/index.js';

/** Counts one monitor's frames in fixed one-second windows. */
export class InboundLimit {
  private windowStart = 0;
  private count = 0;

  /** Returns the close reason when the frame breaks the limits, or undefined when it is allowed. */
  check(bytes: number, now: number): string | undefined {
    if (bytes > MONITOR_INBOUND_MAX_BYTES) return MONITOR_FRAME_TOO_LARGE_REASON;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    if (++this.count > MONITOR_INBOUND_FRAMES_PER_SECOND) return MONITOR_TOO_MANY_FRAMES_REASON;
    return undefined;
  }
}
