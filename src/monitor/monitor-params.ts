// What a monitor asks for in its URL: ?sample=N (at most N events per second) and ?filter=<terms>
// (only matching events, exactly). Parsed once on the upgrade; invalid ones get HTTP 400 with the
// message. A monitor without either gets the full stream.
import { STREAM_ID } from '../protocol/resume-frames.js';

export const FILTER_FIELDS = ['stream', 'user_id', 'session_id', 'category', 'status', 'client'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];
export const MAX_SAMPLE = 100_000;
const MAX_TERMS = 16;
const MAX_VALUE_CHARS = 256;

export interface FilterTerm {
  field: FilterField;
  value: string;
}

export interface MonitorParams {
  /** Events per second at most; undefined: no sampling. */
  sample?: number;
  /** Terms that must all match; undefined: no filter. */
  filter?: FilterTerm[];
}

export type ParsedParams = { ok: true; params: MonitorParams } | { ok: false; message: string };

const isField = (name: string): name is FilterField => (FILTER_FIELDS as readonly string[]).includes(name);

/** Reads `sample` and `filter` (repeatable; terms separated by spaces, all ANDed) from a request URL. */
export function parseMonitorParams(url: string | undefined): ParsedParams {
  let query: URLSearchParams;
  try {
    query = new URL(url ?? '/', 'http://localhost').searchParams;
  } catch {
    return { ok: false, message: 'Invalid URL' };
  }
  const params: MonitorParams = {};
  const samples = query.getAll('sample');
  if (samples.length > 1) return { ok: false, message: 'sample given more than once' };
  if (samples.length === 1) {
    const n = Number(samples[0]);
    if (!/^\d+$/.test(samples[0]) || !Number.isSafeInteger(n) || n < 1 || n > MAX_SAMPLE) {
      return { ok: false, message: `sample must be an integer from 1 to ${MAX_SAMPLE} (events per second)` };
    }
    params.sample = n;
  }
  const terms: FilterTerm[] = [];
  for (const text of query.getAll('filter')) {
    for (const term of text.split(/\s+/).filter(Boolean)) {
      const colon = term.indexOf(':');
      const name = colon < 0 ? term : term.slice(0, colon);
      const value = colon < 0 ? '' : term.slice(colon + 1);
      if (!isField(name)) {
        return {
          ok: false,
          message: `Unknown filter "${name.slice(0, 40)}"; use ${FILTER_FIELDS.join(':, ')}:`,
        };
      }
      if (value === '' || value.length > MAX_VALUE_CHARS) {
        return { ok: false, message: `Filter ${name}: needs a value of 1 to ${MAX_VALUE_CHARS} characters` };
      }
      if (name === 'status' && value !== 'error')
        return { ok: false, message: 'Filter status: takes only "error"' };
      // The ingest socket refuses any other stream id, so such a filter could never match.
      if (name === 'stream' && !STREAM_ID.test(value))
        return { ok: false, message: 'Filter stream: takes a stream id (1 to 200 of A-Z a-z 0-9 . _ : @ -)' };
      terms.push({ field: name, value });
    }
  }
  if (terms.length > MAX_TERMS) return { ok: false, message: `At most ${MAX_TERMS} filter terms` };
  if (query.has('filter') && terms.length === 0) return { ok: false, message: 'filter is empty' };
  if (terms.length > 0) params.filter = terms;
  return { ok: true, params };
}
