// Whose data an entry is: the one place that decides it, for the per-subject index the append
// maintains and for erasure. An authenticated connection's subject is its token's `sub`; under
// static tokens it is the stream id, and erasing subject S takes every stream that is S or starts
// with "S:" (so "alice" takes "alice", "alice:tab1", "alice:tab1:x").

/** What a connection exposes about who it is (`sub` is '' or absent under static tokens). */
export interface SubjectSource {
  stream?: string;
  sub?: string;
}

/** The connection's subject: its `sub` when authenticated, else its stream id; '' for neither. */
export function subjectOf(conn: SubjectSource): string {
  return conn.sub || conn.stream || '';
}

/** Whether an entry of subject `entry` belongs to an erasure of `requested`. */
export function belongsTo(entry: string, requested: string): boolean {
  return entry === requested || entry.startsWith(requested + ':');
}

/** The part of a subject before its first ':': the index groups subjects by it. */
export function subjectRoot(subject: string): string {
  const colon = subject.indexOf(':');
  return colon < 0 ? subject : subject.slice(0, colon);
}

/**
 * A subject as one NATS subject token per ':'-separated part: "alice:tab1" → "_YWxpY2U._dGFiMQ".
 * base64url keeps every token within NATS's allowed characters (no '.', '*', '>' or blanks); the
 * leading '_' keeps an empty part a valid token. Erasing "alice" purges "<base>._YWxpY2U" and
 * "<base>._YWxpY2U.>", exactly the subjects that belong to it.
 */
export function natsSubjectTokens(subject: string): string {
  return subject
    .split(':')
    .map((part) => '_' + Buffer.from(part).toString('base64url'))
    .join('.');
}

/** A subject as written into Redis keys and the append script's header, which is newline-separated. */
export function redisSubjectKey(subject: string): string {
  return subject.includes('%') || subject.includes('\n')
    ? subject.replaceAll('%', '%25').replaceAll('\n', '%0A')
    : subject;
}
