// The live feed (newest first, at most MAX_ROWS rows in the DOM) and the side panel that shows one
// event's JSON. Client data reaches the DOM only through textContent and attribute setters.
import { Ring, formatCount, formatTime, prettyJson } from './events.js';

/**
 * @typedef {import('../../src/protocol/monitor-frames.js').MonitorEvent} MonitorEvent
 * @typedef {ReturnType<typeof import('./events.js').summarize>} Summary
 */

/** Keys that move within the feed: where to start, which way, how many rows (roving tabindex). */
const MOVES = {
  ArrowDown: ['self', 'nextElementSibling', 1],
  ArrowUp: ['self', 'previousElementSibling', 1],
  PageDown: ['self', 'nextElementSibling', 10],
  PageUp: ['self', 'previousElementSibling', 10],
  Home: ['firstElementChild', 'nextElementSibling', 0],
  End: ['lastElementChild', 'previousElementSibling', 0],
};

export const MAX_ROWS = 200;
/**
 * Feed DOM updates are coalesced: every FLUSH_MS, or SLOW_FLUSH_MS while the stream outruns what a
 * person can read, and then only the newest MAX_PER_FLUSH rows are drawn (the rest would scroll
 * out of sight before they were painted).
 */
const FLUSH_MS = 100;
const SLOW_FLUSH_MS = 300;
const MAX_PER_FLUSH = 40;

function cell(tr, col, text, title) {
  const td = document.createElement('span');
  td.setAttribute('role', 'cell');
  td.className = `c-${col}`;
  td.dataset.col = col;
  td.textContent = text;
  if (title) td.title = title;
  tr.append(td);
  return td;
}

/** A small coloured pill naming a node of the flow map. */
export function chip(id, label, color) {
  const span = document.createElement('span');
  span.className = 'chip';
  span.textContent = id;
  if (label && label !== id) span.title = label;
  span.style.setProperty('--c', color);
  return span;
}

export class Feed {
  constructor({ body, scroller, empty, count, pauseButton, onOpen, graph }) {
    this.body = body;
    this.scroller = scroller;
    this.empty = empty;
    this.countEl = count;
    this.pauseButton = pauseButton;
    this.onOpen = onOpen;
    this.graph = graph;
    /** The last MAX_ROWS events of any kind, to re-apply a changed filter. */
    this.recent = new Ring(MAX_ROWS);
    /** Matching events not yet drawn, newest kept. */
    this.queue = new Ring(MAX_ROWS);
    this.rowEvents = new WeakMap();
    this.filter = null;
    this.paused = false;
    this.missed = 0;
    this.lastFlush = 0;
    this.interval = FLUSH_MS;
    this.stale = false;
    this.rebuildOnResume = false;

    /** The feed's one tab stop (roving tabindex): the row last focused, else the newest shown. */
    this.active = null;
    body.addEventListener('click', (e) => this.open(e.target));
    body.addEventListener('keydown', (e) => this.onKey(e));
    body.addEventListener('focusin', (e) => {
      const tr = e.target instanceof Element ? e.target.closest('.feed-row') : null;
      if (tr) this.setActive(tr);
    });
    pauseButton.addEventListener('click', () => this.setPaused(!this.paused));
  }

  /**
   * A line across the feed that is not an event: a restart of the service ("restart") or totals
   * that fell ("fall"). Shown whatever the filter, so the break in message ids is explained.
   */
  addMark(kind, text) {
    const s = { mark: kind, text, time: Date.now() / 1000 };
    this.recent.push(s);
    this.queue.push(s);
    if (!this.paused) this.flush(performance.now(), true);
  }

  /** Called per event with whether it passes the filter; no DOM work here. */
  add(s, matches) {
    this.recent.push(s);
    if (!matches) return;
    this.queue.push(s);
    if (this.paused) {
      this.missed++;
      this.stale = true;
    }
  }

  setFilter(filter) {
    this.filter = filter;
    if (this.paused) {
      // A paused feed keeps its rows and only hides those the new filter rejects; it is rebuilt
      // from the recent events when it resumes.
      for (const tr of this.body.children) tr.hidden = !this.shows(this.rowEvents.get(tr));
      this.rebuildOnResume = true;
      this.updateEmpty();
      return;
    }
    this.rebuild();
  }

  /** Forgets every event, before the server's replay for a new stream fills the feed again. */
  clear() {
    this.recent.clear();
    this.rebuild();
  }

  rebuild() {
    this.rebuildOnResume = false;
    this.body.replaceChildren();
    this.queue.clear();
    for (const s of this.recent.toArray()) if (this.shows(s)) this.queue.push(s);
    this.flush(performance.now(), true);
  }

  shows(s) {
    return this.filter === null || s.mark !== undefined || this.filter(s);
  }

  setPaused(paused) {
    this.paused = paused;
    this.missed = 0;
    this.pauseButton.setAttribute('aria-pressed', String(paused));
    this.pauseButton.classList.toggle('is-paused', paused);
    this.stale = true;
    if (paused) return;
    if (this.rebuildOnResume) this.rebuild();
    else this.flush(performance.now(), true);
  }

  /** Draws queued rows, at most every FLUSH_MS unless forced. */
  flush(now, force = false) {
    if (this.paused) {
      if (this.stale)
        this.pauseButton.textContent = this.missed ? `Resume (${formatCount(this.missed)} new)` : 'Resume';
      this.stale = false;
      return;
    }
    if (this.stale) {
      this.pauseButton.textContent = 'Pause';
      this.stale = false;
    }
    if (this.queue.size === 0) {
      if (force) this.updateEmpty();
      return;
    }
    if (!force && now - this.lastFlush < this.interval) return;
    this.lastFlush = now;
    const queued = this.queue.drainNewestFirst();
    this.interval = queued.length > MAX_PER_FLUSH ? SLOW_FLUSH_MS : FLUSH_MS;
    const items = force ? queued : queued.slice(0, MAX_PER_FLUSH);
    const fragment = document.createDocumentFragment();
    for (const s of items) fragment.append(this.row(s));
    const keepScroll = this.scroller.scrollTop > 4;
    const before = keepScroll ? this.scroller.scrollHeight : 0;
    if (items.length >= MAX_ROWS) this.body.replaceChildren(fragment);
    else {
      this.body.prepend(fragment);
      while (this.body.children.length > MAX_ROWS) this.body.lastElementChild.remove();
    }
    // Someone reading further down keeps their place while rows arrive on top.
    if (keepScroll) this.scroller.scrollTop += this.scroller.scrollHeight - before;
    this.updateEmpty();
  }

  setActive(tr) {
    if (this.active === tr) return;
    if (this.active) this.active.tabIndex = -1;
    this.active = tr;
    if (tr) tr.tabIndex = 0;
  }

  /**
   * Keeps exactly one row reachable with Tab: the newest shown, unless focus is in the feed (then the
   * focused row stays the stop while rows arrive above it), or when the active one was dropped.
   */
  keepTabStop() {
    const reading = this.body.contains(document.activeElement);
    if (reading && this.active && this.active.isConnected && !this.active.hidden) return;
    let first = this.body.firstElementChild;
    while (first && first.hidden) first = first.nextElementSibling;
    if (this.active && !this.active.isConnected) this.active = null;
    this.setActive(first);
  }

  updateEmpty() {
    this.keepTabStop();
    let visible = 0;
    for (const tr of this.body.children) if (!tr.hidden) visible++;
    this.empty.hidden = visible > 0;
    if (visible === 0)
      this.empty.textContent = this.filter ? 'No recent events match the filter.' : 'Waiting for events…';
    this.countEl.textContent = visible ? `${visible} shown` : '';
  }

  row(s) {
    if (s.mark !== undefined) return this.markRow(s);
    const tr = document.createElement('div');
    tr.className = s.error ? 'feed-row is-error' : 'feed-row';
    tr.setAttribute('role', 'row');
    tr.tabIndex = -1;
    tr.dataset.testid = 'feed-row';
    tr.dataset.status = s.status;
    if (s.id !== null) tr.dataset.messageId = String(s.id);
    cell(tr, 'time', formatTime(s.time));
    cell(tr, 'id', s.id === null ? '—' : String(s.id));
    cell(tr, 'client', s.client, s.client);
    cell(tr, 'user', s.user || '—', s.user);
    cell(tr, 'session', s.session || '—', s.session);
    const cat = cell(tr, 'category', '');
    if (s.category)
      cat.append(chip(s.category, this.graph.labelOf(s.category), this.graph.colorOf(s.category)));
    else cat.textContent = '—';
    if (s.kind) cat.title = `type: ${s.kind}`;
    const status = cell(tr, 'status', '');
    const badge = document.createElement('span');
    badge.className = `badge badge-${s.status}`;
    badge.textContent = s.status;
    if (s.event.status === 'error' && typeof s.event.error === 'string') badge.title = s.event.error;
    if (s.duplicate) badge.title = `seq ${s.seq} of ${s.stream} was already stored: not stored again`;
    status.append(badge);
    if (s.gap > 0) {
      const gap = document.createElement('span');
      gap.className = 'badge badge-gap';
      gap.textContent = `gap ${formatCount(s.gap)}`;
      gap.title = `${s.stream} skipped ${s.gap} event${s.gap === 1 ? '' : 's'} before seq ${s.seq}`;
      status.append(gap);
    }
    this.rowEvents.set(tr, s);
    return tr;
  }

  markRow(s) {
    const tr = document.createElement('div');
    tr.className = `feed-row feed-mark feed-mark-${s.mark}`;
    tr.setAttribute('role', 'row');
    tr.tabIndex = -1;
    tr.dataset.testid = 'feed-mark';
    tr.dataset.mark = s.mark;
    cell(tr, 'time', formatTime(s.time));
    const text = cell(tr, 'mark', s.text);
    text.setAttribute('role', 'cell');
    this.rowEvents.set(tr, s);
    return tr;
  }

  open(target) {
    const tr = target instanceof Element ? target.closest('.feed-row') : null;
    const s = tr && this.rowEvents.get(tr);
    if (s && s.mark === undefined) this.onOpen(s, tr);
  }

  onKey(e) {
    const tr = e.target instanceof Element ? e.target.closest('.feed-row') : null;
    if (!tr) return;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.open(tr);
    } else if (Object.hasOwn(MOVES, e.key)) {
      e.preventDefault();
      const [start, step, far] = MOVES[e.key];
      let next = start === 'self' ? tr : this.body[start];
      const visible = (el) => el && !el.hidden;
      if (start === 'self') {
        // One row, or a page of them (PageUp/PageDown), skipping rows the filter hid.
        for (let n = 0; n < far; n++) {
          let candidate = next[step];
          while (candidate && candidate.hidden) candidate = candidate[step];
          if (!candidate) break;
          next = candidate;
        }
      } else {
        while (next && !visible(next)) next = next[step];
      }
      if (next && next !== tr) next.focus();
    }
  }
}

/**
 * What the field policy did to an event (its `policy` marks), and whether its data is withheld
 * (MONITOR_DATA=none): the JSON below shows the data as stored, so the panel names what is missing.
 * @param {MonitorEvent} event
 */
export function privacyFields(event) {
  const fields = [];
  const marks = event.status === 'error' ? undefined : event.policy;
  if (marks !== null && typeof marks === 'object') {
    if (marks.dropped?.length) fields.push(['Redacted', marks.dropped.join(', ')]);
    if (marks.hashed?.length) fields.push(['Hashed', `${marks.hashed.join(', ')} (HMAC-SHA256)`]);
    if (marks.rounded?.length) fields.push(['Rounded', marks.rounded.join(', ')]);
  }
  if (event.status === 'quarantined' && Array.isArray(event.errors))
    fields.push(['Schema errors', event.errors.join('; ')]);
  if (!('data' in event) && !('preview' in event)) fields.push(['Data', 'not shown (MONITOR_DATA=none)']);
  return fields;
}

/** The side panel with one event's fields, its path and its full JSON. */
export class Details {
  constructor({ panel, title, meta, path, json, close, copy, graph }) {
    this.panel = panel;
    this.title = title;
    this.meta = meta;
    this.path = path;
    this.json = json;
    this.graph = graph;
    this.returnFocus = null;
    close.addEventListener('click', () => this.close());
    copy.addEventListener('click', () => {
      copy.textContent = 'Copied';
      navigator.clipboard
        ?.writeText(this.json.textContent ?? '')
        .catch(() => (copy.textContent = 'Copy failed'));
      setTimeout(() => (copy.textContent = 'Copy'), 1500);
    });
    this.copy = copy;
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  /**
   * @param {Summary} s
   * @param {HTMLElement} [from] the feed row it was opened from
   */
  show(s, from) {
    this.returnFocus?.classList.remove('is-open');
    this.returnFocus = from ?? null;
    this.returnFocus?.classList.add('is-open');
    this.title.textContent = s.duplicate
      ? `Duplicate of seq ${s.seq}`
      : s.id === null
        ? 'Malformed frame'
        : `Event #${s.id}`;
    const fields = [
      ['Time', formatTime(s.time)],
      ['Status', s.status],
      ['Client', s.client],
      ['User', s.user || '—'],
      ['Session', s.session || '—'],
      ['Category', s.category || '—'],
      ['Type', s.kind || '—'],
      ['Size', typeof s.event.size === 'number' ? `${formatCount(s.event.size)} bytes` : '—'],
    ];
    if (s.stream) {
      fields.push(['Stream', s.stream], ['Seq', s.seq === null ? '—' : String(s.seq)]);
      if (s.gap > 0) fields.push(['Gap', `${formatCount(s.gap)} skipped before it`]);
      if (s.resumed) fields.push(['Resumed', 'first event after a reconnect']);
    }
    fields.push(...privacyFields(s.event));
    this.meta.replaceChildren(
      ...fields.flatMap(([k, v]) => {
        const dt = document.createElement('dt');
        dt.textContent = k;
        const dd = document.createElement('dd');
        dd.textContent = v;
        if (k === 'Status') dd.className = `status-${s.status}`;
        return [dt, dd];
      }),
    );
    const steps = s.path.filter((id) => typeof id === 'string');
    this.path.replaceChildren(
      ...steps.flatMap((id, k) => {
        const c = chip(this.graph.labelOf(id), id, this.graph.colorOf(id));
        if (s.error && k === steps.length - 1) c.classList.add('chip-error');
        if (k === 0) return [c];
        const sep = document.createElement('span');
        sep.className = 'sep';
        sep.textContent = '›';
        return [sep, c];
      }),
    );
    this.json.textContent = prettyJson(s.event);
    this.copy.textContent = 'Copy';
    this.panel.hidden = false;
    this.json.scrollTop = 0;
    this.title.focus();
  }

  close() {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.json.textContent = '';
    this.returnFocus?.classList.remove('is-open');
    if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
    this.returnFocus = null;
  }
}
