import { MONITOR_INBOUND_FRAMES_PER_SECOND, MONITOR_INBOUND_MAX_BYTES } from '../protocol/index.js';
import { InboundLimit } from './inbound-limit.js';

describe(InboundLimit.name, () => {
  it('allows frames up to 4 KiB and refuses a larger one', () => {
    const limit = new InboundLimit();
    expect(limit.check(MONITOR_INBOUND_MAX_BYTES, 0)).toBeUndefined();
    expect(limit.check(MONITOR_INBOUND_MAX_BYTES + 1, 0)).toBe('Monitor frames are limited to 4096 bytes');
  });

  it('allows 10 frames in a second, refuses the 11th, and allows 10 again in the next second', () => {
    const limit = new InboundLimit();
    const results = Array.from({ length: MONITOR_INBOUND_FRAMES_PER_SECOND + 1 }, (_, i) =>
      limit.check(10, 1000 + i),
    );
    expect(results).toEqual([
      ...Array<undefined>(MONITOR_INBOUND_FRAMES_PER_SECOND).fill(undefined),
      'Monitors may send at most 10 frames per second',
    ]);
    const next = Array.from({ length: MONITOR_INBOUND_FRAMES_PER_SECOND }, (_, i) =>
      limit.check(10, 2000 + i),
    );
    expect(next).toEqual(Array<undefined>(MONITOR_INBOUND_FRAMES_PER_SECOND).fill(undefined));
  });
});
