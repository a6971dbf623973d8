// What a monitor may send: monitors only listen, so their frames are small and rare. A monitor over
// either limit is closed with 1008 rather than having its frames parsed and thrown away forever.
export const MONITOR_FRAME_MAX_BYTES = 4 * 1024;
export const MONITOR_FRAMES_PER_SECOND = 10;

/** Counts one monitor's frames in fixed one-second windows. */
export class InboundLimit {
  private windowStart = 0;
  private count = 0;

  /** Returns why the frame breaks the limits, or undefined when it is allowed. */
  check(bytes: number, now: number): string | undefined {
    if (bytes > MONITOR_FRAME_MAX_BYTES)
      return `Monitor frames are limited to ${MONITOR_FRAME_MAX_BYTES} bytes`;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    if (++this.count > MONITOR_FRAMES_PER_SECOND) {
      return `Monitors may send at most ${MONITOR_FRAMES_PER_SECOND} frames per second`;
    }
    return undefined;
  }
}
