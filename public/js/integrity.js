// Integrity of resumable streams as this page has seen them (pure, no DOM): per stream its last
// seq, its gaps (how many, and the last one's size), duplicates and resumes, from the server's
// `seq`, `gap`, `status: "duplicate"` and `resumed` fields. The page never infers a gap from seqs
// itself: it may be watching a sample.

/**
 * @typedef {{ lastSeq: number, gaps: number, lastGap: number, duplicates: number, resumes: number }} StreamIntegrity
 */

/** @returns {StreamIntegrity} */
export function newIntegrity() {
  return { lastSeq: 0, gaps: 0, lastGap: 0, duplicates: 0, resumes: 0 };
}

/**
 * Adds one event's integrity fields to its stream's record.
 * @param {StreamIntegrity} it
 * @param {{ duplicate: boolean, seq: number | null, gap: number, resumed: boolean }} s a summary (events.js)
 */
export function noteIntegrity(it, s) {
  if (s.resumed) it.resumes++;
  if (s.duplicate) {
    it.duplicates++;
    return;
  }
  if (s.seq !== null && s.seq > it.lastSeq) it.lastSeq = s.seq;
  if (s.gap > 0) {
    it.gaps++;
    it.lastGap = s.gap;
  }
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/**
 * One line for the sessions panel, e.g. "seq 42 · 2 gaps (last 3) · 1 duplicate · 1 resume".
 * @param {StreamIntegrity} it
 */
export function integrityText(it) {
  const parts = [`seq ${it.lastSeq || '–'}`];
  parts.push(it.gaps > 0 ? `${plural(it.gaps, 'gap', 'gaps')} (last ${it.lastGap})` : 'no gaps');
  parts.push(plural(it.duplicates, 'duplicate', 'duplicates'));
  parts.push(plural(it.resumes, 'resume', 'resumes'));
  return parts.join(' · ');
}

// ---- refused stream claims (JWT mode: the server's `auth_refused` frames) -----------------------

/** Claims kept on the page, newest first. */
export const MAX_REFUSED_CLAIMS = 20;
const REASONS = {
  missing: 'no token',
  invalid: 'invalid token',
  expired: 'expired token',
  wrong_stream: 'not its stream',
  too_many: 'too many connections',
};
const ID = /^[A-Za-z0-9._:@-]{1,200}$/;

/** @typedef {import('../../src/protocol/monitor-frames.js').RefusedClaim} RefusedClaim */

/**
 * The well-formed claims of an `auth_refused` frame; anything else is dropped (the page never shows
 * text it cannot vouch for, and the server never sends token text).
 * @param {unknown} frame
 * @returns {RefusedClaim[]}
 */
export function refusedClaims(frame) {
  const claims =
    frame && typeof frame === 'object' ? /** @type {{ claims?: unknown }} */ (frame).claims : undefined;
  if (!Array.isArray(claims)) return [];
  return claims.filter(
    (c) =>
      c &&
      typeof c === 'object' &&
      typeof c.stream === 'string' &&
      ID.test(c.stream) &&
      (c.sub === null || (typeof c.sub === 'string' && ID.test(c.sub))) &&
      Object.hasOwn(REASONS, c.reason) &&
      Number.isFinite(c.at),
  );
}

/**
 * One line for the integrity panel, e.g. "12:03:04 · install-42:s1 · claimed by install-666 · not its stream".
 * @param {RefusedClaim} c
 */
export function refusedClaimText(c) {
  const time = new Date(c.at * 1000).toTimeString().slice(0, 8);
  const by = c.sub === null ? 'no valid token' : `claimed by ${c.sub}`;
  return `${time} · ${c.stream} · ${by} · ${REASONS[c.reason]}`;
}
