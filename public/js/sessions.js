// The sessions panel: one row per recently active resumable stream, else session (session_id, else
// user_id, else the connection's client_id), with its count, last seen and last few categories as a
// small path. A stream's row adds its integrity: last seq, gaps, duplicates and resumes.
import { filterTerm, formatAgo, formatCount } from './events.js';
import { chip } from './feed.js';
import { integrityText, newIntegrity, noteIntegrity } from './integrity.js';

/** Tracked sessions are capped: the least recently seen is forgotten first. */
const MAX_TRACKED = 400;
const MAX_ROWS = 40;
const TRAIL = 4;
const ACTIVE_MS = 60_000;
const FORGET_MS = 15 * 60_000;

export class Sessions {
  constructor({ list, empty, count, onSelect, graph }) {
    this.list = list;
    this.empty = empty;
    this.countEl = count;
    this.onSelect = onSelect;
    this.graph = graph;
    // Map order is insertion order; re-inserting on every event keeps it least-recently-seen first.
    this.map = new Map();
    this.rows = [];
    list.addEventListener('click', (e) => {
      const button = e.target instanceof Element ? e.target.closest('button[data-filter]') : null;
      if (button) this.onSelect(button.dataset.filter);
    });
  }

  /** Forgets every session, before the server's replay for a new stream fills the panel again. */
  clear() {
    this.map.clear();
  }

  /**
   * Called per event: one Map delete + set, no DOM work.
   * @param {ReturnType<typeof import('./events.js').summarize>} s
   * @param {number} nowMs
   */
  record(s, nowMs) {
    // A resumable stream is the session as the protocol knows it (typically install:session).
    let kind = 'stream';
    let id = s.stream;
    if (!id) {
      kind = 'session';
      id = s.session;
    }
    if (!id) {
      kind = s.user ? 'user' : 'client';
      id = s.user || s.client;
    }
    if (!id) return;
    const key = kind + ':' + id;
    let entry = this.map.get(key);
    if (entry) this.map.delete(key);
    else
      entry = {
        kind,
        id,
        user: s.user,
        count: 0,
        last: 0,
        trail: [],
        integrity: kind === 'stream' ? newIntegrity() : null,
      };
    entry.count++;
    entry.last = nowMs;
    if (s.user) entry.user = s.user;
    if (entry.integrity) noteIntegrity(entry.integrity, s);
    entry.trail.push(s.error ? 'error' : s.duplicate ? 'duplicate' : s.category || '?');
    if (entry.trail.length > TRAIL) entry.trail.shift();
    this.map.set(key, entry);
    if (this.map.size > MAX_TRACKED) this.map.delete(this.map.keys().next().value);
  }

  render(nowMs) {
    for (const [key, entry] of this.map) {
      if (nowMs - entry.last < FORGET_MS) break;
      this.map.delete(key);
    }
    const entries = [...this.map.values()].reverse().slice(0, MAX_ROWS);
    let active = 0;
    for (const e of this.map.values()) if (nowMs - e.last < ACTIVE_MS) active++;
    this.countEl.textContent = this.map.size ? `${active} active · ${this.map.size} tracked` : '';
    this.empty.hidden = entries.length > 0;
    // Rows are reused by position so a focused row keeps focus while the list updates.
    while (this.rows.length < entries.length) this.rows.push(this.makeRow());
    while (this.list.children.length > entries.length) this.list.lastElementChild.remove();
    entries.forEach((entry, k) => {
      const row = this.rows[k];
      if (!row.li.isConnected) this.list.append(row.li);
      this.fill(row, entry, nowMs);
    });
  }

  makeRow() {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'session';
    button.dataset.testid = 'session-row';
    const id = document.createElement('span');
    id.className = 's-id';
    const kind = document.createElement('span');
    kind.className = 's-kind';
    const count = document.createElement('span');
    count.className = 's-count';
    const seen = document.createElement('span');
    seen.className = 's-seen';
    const trail = document.createElement('span');
    trail.className = 'trail s-trail';
    const integrity = document.createElement('span');
    integrity.className = 's-integrity';
    integrity.dataset.testid = 'stream-integrity';
    button.append(id, kind, count, seen, trail, integrity);
    li.append(button);
    return { li, button, id, kind, count, seen, trail, integrity, key: '', trailKey: '', integrityKey: '' };
  }

  fill(row, entry, nowMs) {
    const field =
      entry.kind === 'stream'
        ? 'stream'
        : entry.kind === 'session'
          ? 'session_id'
          : entry.kind === 'user'
            ? 'user_id'
            : 'client';
    const key = entry.kind + ':' + entry.id;
    if (row.key !== key) {
      row.key = key;
      row.id.textContent = entry.id;
      row.id.title = entry.user && entry.kind === 'session' ? `${entry.id} (user ${entry.user})` : entry.id;
      row.kind.textContent = entry.kind;
      row.button.dataset.filter = filterTerm(field, entry.id);
      row.button.dataset.sessionKey = key;
      row.button.title = `Show only ${field} ${entry.id} in the feed and the graph`;
    }
    this.fillIntegrity(row, entry.integrity);
    row.count.textContent = formatCount(entry.count);
    row.seen.textContent = formatAgo(nowMs - entry.last);
    row.button.classList.toggle('idle', nowMs - entry.last >= ACTIVE_MS);
    const trailKey = entry.trail.join('\u0000');
    if (row.trailKey !== trailKey) {
      row.trailKey = trailKey;
      row.trail.replaceChildren(
        ...entry.trail.flatMap((step, k) => {
          const c = chip(step, this.graph.labelOf(step), this.graph.colorOf(step));
          if (k === 0) return [c];
          const sep = document.createElement('span');
          sep.className = 'sep';
          sep.textContent = '›';
          return [sep, c];
        }),
      );
    }
  }

  /** A stream's integrity line, and the mark on streams with gaps; empty for other rows. */
  fillIntegrity(row, it) {
    const key = it ? `${it.lastSeq}/${it.gaps}/${it.lastGap}/${it.duplicates}/${it.resumes}` : '';
    if (row.integrityKey === key) return;
    row.integrityKey = key;
    row.integrity.hidden = it === null;
    row.button.classList.toggle('has-gaps', it !== null && it.gaps > 0);
    row.button.classList.toggle('has-duplicates', it !== null && it.duplicates > 0);
    const data = row.integrity.dataset;
    if (it === null) {
      row.integrity.textContent = '';
      for (const k of ['lastSeq', 'gaps', 'lastGap', 'duplicates', 'resumes']) delete data[k];
      return;
    }
    row.integrity.textContent = integrityText(it);
    row.integrity.title =
      'This stream as this page has seen it: highest accepted seq, gaps the server reported ' +
      '(how many, and the size of the last), frames answered duplicate, and reconnects that resumed it';
    data.lastSeq = String(it.lastSeq);
    data.gaps = String(it.gaps);
    data.lastGap = String(it.lastGap);
    data.duplicates = String(it.duplicates);
    data.resumes = String(it.resumes);
  }
}
