// Which events a sampled or filtered monitor gets. Used only for monitors that asked (?sample,
// ?filter): with none, the fan-out never builds candidates and the hot path is unchanged.
import type { FilterTerm } from './monitor-params.js';

/** One event as the fan-out sees it: its encoded JSON and the fields filters and sampling read. */
export interface Candidate {
  text: string;
  error: boolean;
  category: string | null;
  clientId: string;
  /** The client's parsed JSON (already parsed by classification for local events). */
  data: unknown;
}

/** Share of a sample kept for errors first, so problems never vanish from a sample. */
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
 * At most `perSecond` events in any one-second window. Errors (the problems a watcher must never
 * miss) are always sent while the window has room, whatever the flush; ordinary events are spread
 * over the flushes (each takes its share, perSecond × flush interval, less the errors it carries) and
 * never use the last PRIORITY_SHARE of a window, so at least that share of every second stays free
 * for errors. Within a flush the ordinary events are a uniform random sample (reservoir), and
 * everything is sent in arrival order.
 */
export class Sampler {
  private readonly sent: { at: number; errors: number; ordinary: number }[] = [];
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

  pick(candidates: readonly Candidate[], now: number): Candidate[] {
    while (this.sent.length > 0 && now - this.sent[0].at >= 1000) this.sent.shift();
    let errorsUsed = 0;
    let ordinaryUsed = 0;
    for (const s of this.sent) {
      errorsUsed += s.errors;
      ordinaryUsed += s.ordinary;
    }
    const chosen: number[] = [];
    const rest: number[] = [];
    let room = this.perSecond - errorsUsed - ordinaryUsed;
    candidates.forEach((c, i) => (c.error && chosen.length < room ? chosen : rest).push(i));
    const errors = chosen.length;
    room -= errors;
    const quota = Math.max(
      0,
      Math.min(this.share - errors, this.perSecond - this.reserved - ordinaryUsed, room, rest.length),
    );
    if (quota >= rest.length) {
      chosen.push(...rest);
    } else if (quota > 0) {
      // Reservoir sampling (algorithm R) of the quota over the ordinary events.
      const reservoir = rest.slice(0, quota);
      for (let k = quota; k < rest.length; k++) {
        const j = Math.floor(this.random() * (k + 1));
        if (j < quota) reservoir[j] = rest[k];
      }
      chosen.push(...reservoir);
    }
    if (chosen.length === 0) return [];
    chosen.sort((a, b) => a - b);
    this.sent.push({ at: now, errors, ordinary: chosen.length - errors });
    return chosen.map((i) => candidates[i]);
  }
}

/**
 * Splits comma-joined event JSON (a batch from the bus) into one text per event, by scanning for
 * top-level commas outside strings: no recursion, whatever the nesting.
 */
export function splitEvents(joined: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < joined.length; i++) {
    const ch = joined.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) depth++;
    else if (ch === 125 || ch === 93) depth--;
    else if (ch === 44 && depth === 0) {
      out.push(joined.slice(start, i));
      start = i + 1;
    }
  }
  if (start < joined.length) out.push(joined.slice(start));
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
  return {
    text,
    error: e.status === 'error',
    category: typeof e.category === 'string' ? e.category : null,
    clientId: typeof e.client_id === 'string' ? e.client_id : '',
    data: e.data,
  };
}
