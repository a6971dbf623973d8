// Which events a sampled or filtered monitor gets. Used only for monitors that asked (?sample,
// ?filter): with none, the fan-out never builds candidates and the hot path is unchanged.
import type { FilterTerm } from './monitor-params.js';

// Where the bus's batches are split; kept importable from here for the privacy filter.
export { splitEvents } from '../protocol/events-frames.js';

/** One event as the fan-out sees it: its encoded JSON and the fields filters and sampling read. */
export interface Candidate {
  readonly text: string;
  /** A malformed frame (status "error"). */
  error: boolean;
  /** Something a sample must not hide: a malformed frame, a gap or a duplicate. */
  problem: boolean;
  /** The resumable stream id; undefined for connections without one. */
  stream: string | undefined;
  category: string | null;
  clientId: string;
  /** The client's parsed JSON (already parsed by classification for local events). */
  data: unknown;
}

/**
 * Share of each second's sample that ordinary events never take: kept for problems (malformed
 * frames, gaps, duplicates), so they never vanish from a sample.
 */
export const PRIORITY_SHARE = 0.25;

function idText(data: unknown, key: string): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || !Object.hasOwn(data, key)) {
    return undefined;
  }
  const value = (data as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** True when the candidate matches every term (exact, case-sensitive values). */
export function matches(c: Candidate, terms: readonly FilterTerm[]): boolean {
  for (const { field, value } of terms) {
    switch (field) {
      case 'status':
        if (!c.error) return false;
        break;
      case 'stream':
        if (c.stream !== value) return false;
        break;
      case 'category':
        if (c.category !== value) return false;
        break;
      case 'client':
        if (c.clientId !== value) return false;
        break;
      default:
        if (idText(c.data, field) !== value) return false;
    }
  }
  return true;
}

/**
 * At most `perSecond` events in any one-second window. Problems (malformed frames, gaps, duplicates:
 * what a watcher must never miss) are always sent while the window has room, whatever the flush;
 * ordinary events are spread over the flushes (each takes its share, perSecond × flush interval,
 * less the problems it carries) and never use the last PRIORITY_SHARE of a window, so at least that
 * share of every second stays free for problems. Within a flush the ordinary events are a uniform
 * random sample, and everything is sent in arrival order. Picking the ordinary events costs
 * O(quota) (Floyd's algorithm), not O(events).
 */
export class Sampler {
  private readonly sent: { at: number; problems: number; ordinary: number }[] = [];
  private readonly reserved: number;
  private readonly share: number;

  constructor(
    readonly perSecond: number,
    flushMs: number,
    private readonly random: () => number = Math.random,
  ) {
    this.reserved = Math.ceil(perSecond * PRIORITY_SHARE);
    this.share = Math.max(1, Math.ceil((perSecond * flushMs) / 1000));
  }

  /**
   * `problems`: the indices of the candidates that are problems, ascending (computed once per flush
   * for the unfiltered stream); scanned for when absent.
   */
  pick<C extends Candidate>(candidates: readonly C[], now: number, problems?: readonly number[]): C[] {
    while (this.sent.length > 0 && now - this.sent[0].at >= 1000) this.sent.shift();
    let problemsUsed = 0;
    let ordinaryUsed = 0;
    for (const s of this.sent) {
      problemsUsed += s.problems;
      ordinaryUsed += s.ordinary;
    }
    let room = this.perSecond - problemsUsed - ordinaryUsed;
    if (room <= 0) return [];
    const first = (problems ?? problemIndices(candidates)).slice(0, room);
    room -= first.length;
    const others = candidates.length - first.length;
    const quota = Math.max(
      0,
      Math.min(this.share - first.length, this.perSecond - this.reserved - ordinaryUsed, room, others),
    );
    const chosen = [...first, ...this.uniform(candidates.length, quota, first)];
    if (chosen.length === 0) return [];
    chosen.sort((a, b) => a - b);
    this.sent.push({ at: now, problems: first.length, ordinary: chosen.length - first.length });
    return chosen.map((i) => candidates[i]);
  }

  /** `k` distinct indices of [0, n) outside `skip` (ascending), uniformly (Floyd's algorithm). */
  private uniform(n: number, k: number, skip: readonly number[]): number[] {
    const m = n - skip.length;
    if (k >= m) {
      const all: number[] = [];
      for (let i = 0, s = 0; i < n; i++) {
        if (s < skip.length && skip[s] === i) s++;
        else all.push(i);
      }
      return all;
    }
    const picked = new Set<number>();
    for (let j = m - k; j < m; j++) {
      const t = Math.floor(this.random() * (j + 1));
      picked.add(picked.has(t) ? j : t);
    }
    // Position p among the indices not skipped is index p + (skipped indices at or below it).
    const positions = [...picked].sort((a, b) => a - b);
    const out: number[] = [];
    let s = 0;
    for (const p of positions) {
      while (s < skip.length && skip[s] <= p + s) s++;
      out.push(p + s);
    }
    return out;
  }
}

/** Indices of the candidates that are problems (malformed, gap, duplicate), ascending. */
export function problemIndices(candidates: readonly Candidate[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < candidates.length; i++) if (candidates[i].problem) out.push(i);
  return out;
}

/** A bus event's text as a Candidate; undefined when it is not an event object. */
export function remoteCandidate(text: string): Candidate | undefined {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof event !== 'object' || event === null) return undefined;
  const e = event as Record<string, unknown>;
  const error = e.status === 'error';
  return {
    text,
    error,
    problem: error || e.status === 'duplicate' || (typeof e.gap === 'number' && e.gap > 0),
    stream: typeof e.stream === 'string' ? e.stream : undefined,
    category: typeof e.category === 'string' ? e.category : null,
    clientId: typeof e.client_id === 'string' ? e.client_id : '',
    data: e.data,
  };
}
