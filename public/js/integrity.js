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
