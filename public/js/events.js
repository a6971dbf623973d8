// Pure helpers shared by the panels: what the page reads from one monitor event, the filter, the
// JSON view, a fixed-size ring and number/time formatting. Nothing here touches the DOM.

/** @typedef {import('../../src/protocol/monitor-frames.js').MonitorEvent} MonitorEvent */

const own = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/** Ids are shown only when they are strings or numbers, as the server's own log fields are. */
function idText(obj, key) {
  if (obj === null || !own(obj, key)) return '';
  const value = obj[key];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

/**
 * The fields every panel needs from one event, read once when the event arrives. Each is checked:
 * a field of another type reads as absent.
 * @param {MonitorEvent} event
 */
export function summarize(event) {
  const data = event.status === 'error' ? undefined : event.data;
  const obj = data !== null && typeof data === 'object' && !Array.isArray(data) ? data : null;
  const error = event.status === 'error';
  const duplicate = event.status === 'duplicate';
  return {
    event,
    id: typeof event.message_id === 'number' ? event.message_id : null,
    client: typeof event.client_id === 'string' ? event.client_id : '',
    user: idText(obj, 'user_id'),
    session: idText(obj, 'session_id'),
    kind: idText(obj, 'event_type') || idText(obj, 'type'),
    category: typeof event.category === 'string' ? event.category : '',
    error,
    duplicate,
    // quarantined: stored apart, it failed its category's schema (EVENT_SCHEMAS_DIR).
    status: error
      ? 'error'
      : duplicate
        ? 'duplicate'
        : event.status === 'quarantined'
          ? 'quarantined'
          : 'received',
    time: typeof event.server_timestamp === 'number' ? event.server_timestamp : Date.now() / 1000,
    path: Array.isArray(event.path) ? event.path : [],
    // Resumable connections only (see docs/delivery-guarantees.md): '' / null / 0 otherwise.
    stream: typeof event.stream === 'string' ? event.stream : '',
    seq: typeof event.seq === 'number' && Number.isSafeInteger(event.seq) && event.seq > 0 ? event.seq : null,
    gap: typeof event.gap === 'number' && Number.isSafeInteger(event.gap) && event.gap > 0 ? event.gap : 0,
    resumed: event.resumed === true,
  };
}

// A Map, not an object literal: the key is typed by the user ("__proto__:x" must not resolve).
const FIELDS = new Map([
  ['user', 'user'],
  ['user_id', 'user'],
  ['session', 'session'],
  ['session_id', 'session'],
  ['category', 'category'],
  ['cat', 'category'],
  ['client', 'client'],
  ['client_id', 'client'],
  ['status', 'status'],
  ['type', 'kind'],
  ['event_type', 'kind'],
  ['kind', 'kind'],
  ['id', 'id'],
  ['message_id', 'id'],
  ['stream', 'stream'],
]);

function fieldText(s, field) {
  if (field === 'id') return s.id === null ? '' : String(s.id);
  return s[field];
}

const ANY_FIELDS = ['client', 'user', 'session', 'category', 'kind', 'status', 'stream'];

function matchesAny(s, needle) {
  for (const field of ANY_FIELDS) if (s[field].toLowerCase().includes(needle)) return true;
  if (s.id !== null && String(s.id) === needle) return true;
  const preview = s.error ? s.event.preview : undefined;
  return typeof preview === 'string' && preview.toLowerCase().includes(needle);
}

/**
 * Compiles the filter box into a predicate over summaries, or null when it is empty. Terms are
 * space-separated and all must match; `field:value` (quotes allowed) matches one field exactly,
 * or by prefix with a trailing `*`; any other term is a substring of any column.
 */
export function compileFilter(text) {
  const terms = [];
  for (const m of text.matchAll(/(?:([A-Za-z_]+):)?(?:"([^"]*)"?|(\S*))/g)) {
    const field = m[1] === undefined ? undefined : FIELDS.get(m[1].toLowerCase());
    const raw = (m[2] ?? m[3] ?? '').toLowerCase();
    if (m[1] !== undefined && field === undefined) {
      // An unknown "word:" prefix is plain text, e.g. a URL or a time.
      const whole = m[0].toLowerCase().replace(/"/g, '');
      if (whole) terms.push({ field: undefined, value: whole });
    } else if (raw !== '') {
      const prefix = field !== undefined && raw.endsWith('*');
      terms.push({ field, value: prefix ? raw.slice(0, -1) : raw, prefix });
    }
  }
  if (terms.length === 0) return null;
  return (s) =>
    terms.every((t) => {
      if (t.field === undefined) return matchesAny(s, t.value);
      const value = fieldText(s, t.field).toLowerCase();
      return t.prefix ? value.startsWith(t.value) : value === t.value;
    });
}

/** A filter term that selects exactly this value, quoted when it has spaces. */
export function filterTerm(field, value) {
  return /[\s"]/.test(value) ? `${field}:"${value.replace(/"/g, '')}"` : `${field}:${value}`;
}

/**
 * Pretty JSON for the side panel. JSON.stringify recurses and throws on deeply nested client data,
 * so on any failure this falls back to an iterative, compact serialisation of the same value.
 */
export function prettyJson(value) {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return compactJson(value);
  }
}

/** JSON text without recursion: an explicit stack of values still to write and literal tokens. */
export function compactJson(root) {
  const out = [];
  /** @type {({ v: unknown } | string)[]} */
  const stack = [{ v: root }];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const v = item.v;
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null');
    } else if (Array.isArray(v)) {
      stack.push(']');
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ v: v[i] });
        if (i > 0) stack.push(',');
      }
      stack.push('[');
    } else {
      const keys = Object.keys(v);
      stack.push('}');
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ v: v[keys[i]] });
        stack.push(JSON.stringify(keys[i]) + ':');
        if (i > 0) stack.push(',');
      }
      stack.push('{');
    }
  }
  return out.join('');
}

/** A fixed-capacity ring: pushing past capacity overwrites the oldest entry. */
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.items = new Array(capacity);
    this.start = 0;
    this.size = 0;
  }

  push(item) {
    if (this.size < this.capacity) {
      this.items[(this.start + this.size) % this.capacity] = item;
      this.size++;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Entries newest first, then empties the ring. */
  drainNewestFirst() {
    const out = new Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.items[(this.start + this.size - 1 - i) % this.capacity];
    this.clear();
    return out;
  }

  /** Entries oldest first, without removing them. */
  toArray() {
    const out = new Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.items[(this.start + i) % this.capacity];
    return out;
  }

  clear() {
    this.items.fill(undefined);
    this.start = 0;
    this.size = 0;
  }
}

const pad2 = (n) => (n < 10 ? '0' : '') + n;
const pad3 = (n) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

/** Local wall time with milliseconds, from seconds since the epoch. */
export function formatTime(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())}`;
}

const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export function formatCount(n) {
  return n < 100_000 ? whole.format(n) : compact.format(n);
}

export function formatRate(n) {
  if (n < 10) return n.toFixed(n === 0 ? 0 : 1);
  return formatCount(Math.round(n));
}

export function formatAgo(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

// The filter fields the server can apply itself (?filter=), by the page's names for them.
const SERVER_FIELDS = new Map([
  ['stream', 'stream'],
  ['user', 'user_id'],
  ['user_id', 'user_id'],
  ['session', 'session_id'],
  ['session_id', 'session_id'],
  ['category', 'category'],
  ['cat', 'category'],
  ['client', 'client'],
  ['client_id', 'client'],
  ['status', 'status'],
]);

/**
 * The server-side filter (`?filter=`) equal to the filter box, or null when the box is empty or
 * has a term only the page can apply (free text, a prefix `*`, a value with spaces, another field).
 * @param {string} text
 * @returns {string | null}
 */
export function serverFilter(text) {
  const terms = text.trim().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return null;
  const out = [];
  for (const term of terms) {
    const m = /^([A-Za-z_]+):"?([^"*\s]+)"?$/.exec(term);
    const field = m ? SERVER_FIELDS.get(m[1].toLowerCase()) : undefined;
    if (!m || field === undefined) return null;
    if (field === 'status' && m[2].toLowerCase() !== 'error') return null;
    out.push(`${field}:${field === 'status' ? 'error' : m[2]}`);
  }
  return out.join(' ');
}

/**
 * What the page asks the server for: an exact filtered stream when the filter box can be applied
 * by the server, else the full stream when chosen, else a sample of `sample` events per second.
 * @param {{ filterText: string, full: boolean, sample: number }} choice
 * @returns {{ filter?: string, sample?: string }}
 */
export function streamParams({ filterText, full, sample }) {
  const filter = serverFilter(filterText);
  if (filter !== null) return { filter };
  if (full) return {};
  return { sample: String(sample) };
}
