// The behavioral frames the load generator sends: ~300 bytes of JSON as a mobile SDK would send
// (user_id, session_id, timestamp, event_type, a features object), prebuilt as Buffers so the
// load generator spends nothing per frame on serialising.

const EVENT_TYPES = ['tap', 'swipe', 'keydown', 'accelerometer', 'scroll', 'press', 'keyup', 'page_view'];
const POOL_SIZE = 40;

/** A small deterministic PRNG (mulberry32), so every run sends the same frames. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex24 = (rand) =>
  Math.floor(rand() * 2 ** 24)
    .toString(16)
    .padStart(6, '0');

export function behaviouralFrame(rand, i) {
  const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
  return JSON.stringify({
    user_id: `user_${String(Math.floor(rand() * 100000)).padStart(5, '0')}`,
    session_id: `sess_${hex24(rand)}${hex24(rand)}`,
    timestamp: 1764294602123 + i * 17,
    event_type: EVENT_TYPES[i % EVENT_TYPES.length],
    features: {
      x: round(rand() * 1080, 1),
      y: round(rand() * 2400, 1),
      pressure: round(rand(), 3),
      touch_major: round(rand() * 20, 2),
      duration_ms: Math.floor(rand() * 400),
      velocity: round(rand() * 5, 3),
      accel: [round(rand() * 2 - 1, 4), round(rand() * 2 - 1, 4), round(9.8 + rand() - 0.5, 4)],
      screen: 'checkout',
      orientation: 'portrait',
      app_version: '4.12.1',
    },
  });
}

/** Breaks a frame the way a buggy client would (a trailing comma), keeping its size. */
function malformed(frame) {
  return frame.slice(0, -2) + ',}}';
}

/**
 * POOL_SIZE frames for one connection; with `malformedRatio` > 0, that share of the pool (spread
 * evenly) is malformed JSON, so cycling through the pool sends exactly that share.
 */
export function framePool(malformedRatio, seed) {
  const rand = random(seed + 1);
  const every = malformedRatio > 0 ? Math.round(1 / malformedRatio) : 0;
  return Array.from({ length: POOL_SIZE }, (_, i) => {
    const frame = behaviouralFrame(rand, i);
    return Buffer.from(every > 0 && i % every === every - 1 ? malformed(frame) : frame);
  });
}
