// The monitor page: wires the socket to the panels. Events are counted as they arrive (no DOM
// work), and everything visible is painted from one requestAnimationFrame loop, so a 20 000
// events/s stream costs a little arithmetic per event and a bounded amount of DOM per frame.
import { ThroughputChart } from './chart.js';
import { MonitorSocket } from './connection.js';
import { explain } from './diagnose.js';
import {
  compileFilter,
  filterTerm,
  formatCount,
  formatRate,
  formatTime,
  streamParams,
  summarize,
} from './events.js';
import { Details, Feed } from './feed.js';
import { ERROR_NODE, FlowGraph, QUARANTINE_NODE, withQuarantine } from './flow-graph.js';
import { Instances } from './instances.js';
import { MAX_REFUSED_CLAIMS, refusedClaimText, refusedClaims } from './integrity.js';
import { Sessions } from './sessions.js';

/**
 * The frames the server sends (types only: nothing is loaded from src/ at runtime).
 * @typedef {import('../../src/protocol/monitor-frames.js').MonitorFrame} MonitorFrame
 * @typedef {import('../../src/protocol/monitor-frames.js').MonitorEvent} MonitorEvent
 * @typedef {import('../../src/protocol/monitor-frames.js').StatsFrame} StatsFrame
 */

// Relative to the page, so the monitor also works behind a path prefix. The server says where its
// monitor socket is in config.json (MONITOR_ENDPOINT); these are the defaults until it answers.
const CONFIG_PATH = 'config.json';
const MONITOR_PATH = 'ws/monitor';
const FLOW_MAP_PATH = 'event-flow-map';
/** Dots released per second at most; under a heavy stream they are a sample of it. */
const DOTS_PER_S = 60;
const DOT_QUEUE = 24;
const FILTER_DEBOUNCE_MS = 120;
/** Events per second the page asks for by default; counts and the graph come from stats, exact. */
const DEFAULT_SAMPLE = 300;
const MIN_SAMPLE = 50;
/** Halve the sample when handling events takes more than this share of a second. */
const BUSY_SHARE = 0.1;

const $ = (id) => document.getElementById(id);

// ---- panels -------------------------------------------------------------------------------------

let filter = null;
/** Events waiting for a dot, at most DOT_QUEUE; the frame loop releases DOTS_PER_S of them. */
const dotQueue = [];

const graph = new FlowGraph($('flow'), $('flow-dots'), {
  formatCount,
  onActivate: (node) =>
    toggleFilter(node.id === ERROR_NODE ? 'status:error' : filterTerm('category', node.id)),
});
const details = new Details({
  panel: $('details'),
  title: $('details-title'),
  meta: $('details-meta'),
  path: $('details-path'),
  json: $('details-json'),
  close: $('details-close'),
  copy: $('details-copy'),
  graph,
});
const feed = new Feed({
  body: $('feed-body'),
  scroller: $('feed-scroll'),
  empty: $('feed-empty'),
  count: $('feed-count'),
  pauseButton: $('pause'),
  onOpen: (s, row) => details.show(s, row),
  graph,
});
const sessions = new Sessions({
  list: $('sessions'),
  empty: $('sessions-empty'),
  count: $('sessions-count'),
  onSelect: (text) => toggleFilter(text),
  graph,
});
const chart = new ThroughputChart($('chart'), {
  rateEl: $('chart-rate'),
  errorsEl: $('chart-errors'),
  formatRate,
});
void chart.init();

// ---- filter -------------------------------------------------------------------------------------

const filterInput = /** @type {HTMLInputElement} */ ($('filter'));
let filterTimer;

function applyFilter() {
  clearTimeout(filterTimer);
  filter = compileFilter(filterInput.value);
  filterInput.classList.toggle('active', filter !== null);
  dotQueue.length = 0;
  graph.clearDots();
  feed.setFilter(filter);
  updateStream();
}

let sample = DEFAULT_SAMPLE;
let streamKey = '';
/** Reconnects with the server-side filter or sample the filter box and the toggle call for. */
function updateStream() {
  const params = streamParams({ filterText: filterInput.value, full: fullStream.checked, sample });
  const key = JSON.stringify(params);
  const mode = $('feed-mode');
  mode.textContent =
    params.filter !== undefined
      ? `exact stream: ${params.filter}`
      : params.sample !== undefined
        ? `sample ≤${params.sample}/s`
        : 'full stream';
  mode.dataset.mode = params.filter !== undefined ? 'exact' : params.sample !== undefined ? 'sample' : 'full';
  if (key === streamKey) return;
  const first = streamKey === '';
  streamKey = key;
  socket.params = params;
  if (first) return;
  // The new stream's hello and replay replace what the page holds (see onFrame).
  switched = true;
  socket.setParams(params);
}
let switched = false;
const fullStream = /** @type {HTMLInputElement} */ ($('full-stream'));
fullStream.addEventListener('change', () => updateStream());

/** Sets the filter from a click on a node or a session; the same click again clears it. */
function toggleFilter(text) {
  filterInput.value = filterInput.value.trim() === text ? '' : text;
  applyFilter();
}

filterInput.addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(applyFilter, FILTER_DEBOUNCE_MS);
});
filterInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') applyFilter();
});

document.addEventListener('keydown', (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
  if (e.key === 'Escape' && details.isOpen) {
    details.close();
  } else if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    filterInput.focus();
    filterInput.select();
  }
});

// ---- incoming frames ----------------------------------------------------------------------------

let dotBudget = 0;
let matchedCount = 0;
let animatedCount = 0;

/**
 * Per event: count it, remember it for the feed and sessions, maybe queue a dot. No DOM work.
 * @param {MonitorEvent[]} events
 */
function onEvents(events, replay = false) {
  const nowMs = Date.now();
  for (const event of events) {
    // One unreadable event is skipped and counted; the rest of its batch still shows.
    try {
      onEvent(event, nowMs, replay);
    } catch {
      onSkipped(1);
    }
  }
}

let skipped = 0;
let skippedDirty = false;

/** Frames or events this page could not read: counted in the "Skipped" tile, never fatal. */
function onSkipped(n) {
  skipped += n;
  skippedDirty = true;
}

/**
 * @param {MonitorEvent} event
 * @param {number} nowMs
 * @param {boolean} replay
 */
function onEvent(event, nowMs, replay) {
  if (event === null || typeof event !== 'object' || Array.isArray(event))
    throw new TypeError('not an event');
  const s = summarize(event);
  // Replayed events (from before the page opened) fill the feed and sessions but are neither
  // counted nor animated: the server's totals already include them.
  if (replay) {
    sessions.record(s, nowMs);
    feed.add(s, filter === null || filter(s));
    return;
  }
  // A duplicate was not stored: the server counts it on no node, only in total_duplicates.
  if (!s.duplicate) graph.record(s.path, s.error);
  // Acked on its route, and also stored in the quarantine log: the extra node counts it too.
  if (s.status === 'quarantined') graph.record([QUARANTINE_NODE], false);
  if (s.duplicate || s.gap > 0) graph.recordIntegrity(s.duplicate, s.gap);
  sessions.record(s, nowMs);
  const matches = filter === null || filter(s);
  feed.add(s, matches);
  if (!matches) return;
  matchedCount++;
  // A full queue swaps a random entry, so the dots stay a fair sample of a heavy stream.
  if (dotQueue.length < DOT_QUEUE) dotQueue.push(s);
  else dotQueue[(Math.random() * DOT_QUEUE) | 0] = s;
}

/** @type {StatsFrame | null} */
let stats = null;
let statsDirty = false;
/** The server's latest per-node totals, applied again when the map (re)loads. */
let nodeTotals = null;
const instances = new Instances();
let instancesDirty = false;

let busyMs = 0;
/** @param {MonitorFrame} frame */
function onFrame(frame) {
  const start = performance.now();
  handleFrame(frame);
  busyMs += performance.now() - start;
}

/** @param {MonitorFrame} frame */
function handleFrame(frame) {
  if (frame.type === 'events') {
    if (Array.isArray(frame.events)) onEvents(frame.events, frame.replay === true);
    else onSkipped(1);
  } else if (frame.type === 'stats') {
    explainFall(stats, frame);
    stats = frame;
    statsDirty = true;
    chart.push(frame);
    if (frame.nodes) graph.setTotals((nodeTotals = frame.nodes));
    graph.setIntegrityTotals(frame.total_duplicates, frame.total_gaps);
    if (Array.isArray(frame.instances)) {
      instances.update(frame.instances, Date.now());
      instancesDirty = true;
    }
  } else if (frame.type === 'auth_refused') {
    showRefusedClaims(refusedClaims(frame));
  } else if (frame.type === 'hello') {
    // After a switch of stream (sample, full, exact filter), the feed and sessions show what the new
    // stream's replay holds, rather than a mix of both streams.
    const replays = frame.replay && typeof frame.replay === 'object' && frame.replay.events > 0;
    if (switched && replays) {
      feed.clear();
      sessions.clear();
    }
    switched = false;
    noteStart(frame.started_at);
    if (frame.nodes) graph.setTotals((nodeTotals = frame.nodes));
    const app = frame.app && typeof frame.app === 'object' ? frame.app : {};
    if (typeof app.name === 'string') {
      $('app-info').textContent = `${app.name}${typeof app.version === 'string' ? ` · v${app.version}` : ''}`;
    }
    // A restarted server may serve another map: fetch it again, redraw only if it changed.
    void loadMap(typeof frame.flow_map === 'string' ? frame.flow_map : FLOW_MAP_PATH);
  } else {
    ignoreFrame(frame);
  }
}

/**
 * A frame type this page does not know (from a newer server) is ignored. Typed `never`: a frame
 * added to MonitorFrame (src/protocol/monitor-frames.ts) fails `npm run check` until it is handled.
 * @param {never} frame
 */
function ignoreFrame(frame) {
  void frame;
}

// ---- restarts and falling totals ----------------------------------------------------------------

/** The started_at of the instance this page last heard from, and whether a restart awaits its stats. */
let startedAt = null;
let restartPending = false;

/** A new start time after a reconnect: the service restarted, and its totals begin again. */
function noteStart(value) {
  if (typeof value !== 'string') return;
  if (startedAt !== null && value !== startedAt) {
    const at = Date.parse(value);
    const before = stats && typeof stats.total_messages === 'number' ? stats.total_messages : null;
    const text =
      `Service restarted at ${formatTime((Number.isNaN(at) ? Date.now() : at) / 1000).slice(0, 8)}: ` +
      `totals and message ids start again from 0${before === null ? '' : ` (it had counted ${formatCount(before)} messages)`}`;
    feed.addMark('restart', text);
    chart.addMark(Date.now() / 1000, 'service restarted');
    restartPending = true;
  }
  startedAt = value;
}

/**
 * Totals never fall silently: a restart explains it, otherwise the page says what it saw.
 * @param {StatsFrame | null} before
 * @param {StatsFrame} after
 */
function explainFall(before, after) {
  if (!before || typeof before.total_messages !== 'number' || typeof after.total_messages !== 'number')
    return;
  if (after.total_messages >= before.total_messages) {
    restartPending = false;
    return;
  }
  if (restartPending) {
    restartPending = false;
    return;
  }
  feed.addMark(
    'fall',
    `Totals fell from ${formatCount(before.total_messages)} to ${formatCount(after.total_messages)} messages: ` +
      'the figures now come from fewer instances (one left the cluster) or from another one',
  );
  chart.addMark(Date.now() / 1000, 'totals fell');
}

/** The integrity panel's refused stream claims: newest first, at most MAX_REFUSED_CLAIMS. */
function showRefusedClaims(claims) {
  if (claims.length === 0) return;
  const list = $('refused-claims');
  for (const claim of claims) {
    const li = document.createElement('li');
    li.className = `refused-${claim.reason}`;
    li.textContent = refusedClaimText(claim);
    list.prepend(li);
  }
  while (list.children.length > MAX_REFUSED_CLAIMS) list.lastElementChild.remove();
  $('refused').hidden = false;
}

// ---- flow map -----------------------------------------------------------------------------------

let mapText = '';
const flowStatus = $('flow-status');

async function loadMap(path) {
  try {
    const res = await fetch(new URL(path, location.href), { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    // The server counts quarantined events (EVENT_SCHEMAS_DIR) under their own key: draw that node.
    const quarantine = nodeTotals !== null && typeof nodeTotals[QUARANTINE_NODE] === 'number';
    const text = (await res.text()) + (quarantine ? '+quarantine' : '');
    if (text === mapText) return;
    const map = JSON.parse(quarantine ? text.slice(0, -'+quarantine'.length) : text);
    if (!graph.setMap(quarantine ? withQuarantine(map) : map)) throw new Error('the map has no nodes');
    mapText = text;
    if (nodeTotals) graph.setTotals(nodeTotals);
    flowStatus.hidden = true;
    $('flow').setAttribute('aria-label', `Event flow map with ${graph.map.nodes.length} nodes`);
  } catch (err) {
    if (!mapText) {
      flowStatus.hidden = false;
      flowStatus.textContent = `Could not load the event flow map (${err instanceof Error ? err.message : 'error'}); retrying on reconnect.`;
    }
  }
}

const flowWrap = $('flow').parentElement;
let placePending = false;
new ResizeObserver(() => {
  if (placePending) return;
  placePending = true;
  requestAnimationFrame(() => {
    placePending = false;
    graph.place(flowWrap.clientWidth, flowWrap.clientHeight);
  });
}).observe(flowWrap);

// ---- top bar ------------------------------------------------------------------------------------

function setStat(id, value, format = formatCount) {
  const el = $(id);
  if (typeof value !== 'number') return;
  const text = format(value);
  if (el.textContent !== text) el.textContent = text;
  el.dataset.value = String(value);
  el.title = value.toLocaleString('en-US');
}

function paintStats() {
  statsDirty = false;
  setStat('stat-connections', stats.active_connections);
  setStat('stat-monitors', stats.active_monitors);
  setStat('stat-messages', stats.total_messages);
  setStat('stat-rate', stats.messages_per_second, formatRate);
  setStat('stat-errors', stats.total_errors);
  setStat('stat-dropped', stats.dropped);
  setStat('stat-gaps', stats.total_gaps);
  setStat('stat-duplicates', stats.total_duplicates);
  setStat('stat-resumes', stats.resumes);
  setStat('stat-evictions', stats.state_evictions ?? 0);
  $('stat-errors').parentElement.classList.toggle('alert', stats.total_errors > 0);
  $('stat-dropped').parentElement.classList.toggle('alert', stats.dropped > 0);
  $('stat-gaps').parentElement.classList.toggle('alert', stats.total_gaps > 0);
  $('stat-duplicates').parentElement.classList.toggle('alert', stats.total_duplicates > 0);
  $('stat-evictions').parentElement.classList.toggle('alert', stats.state_evictions > 0);
}

function paintSkipped() {
  skippedDirty = false;
  setStat('stat-skipped', skipped);
  $('stat-skipped').parentElement.hidden = false;
}

const sinceOpen = /** @type {HTMLInputElement} */ ($('since-open'));
sinceOpen.addEventListener('change', () => graph.showSincePageOpened(sinceOpen.checked));

const instancesEl = $('instances');
function paintInstances() {
  instancesDirty = false;
  const rows = instances.list();
  // One instance is not a cluster: the strip appears from two.
  instancesEl.hidden = rows.length < 2;
  instancesEl.replaceChildren(
    ...rows.map((row) => {
      const li = document.createElement('li');
      li.className = row.gone ? 'instance gone' : 'instance';
      li.dataset.testid = 'instance';
      li.dataset.id = row.id;
      li.textContent = row.gone
        ? `${row.id} · gone`
        : `${row.id} · ${formatCount(row.active_connections)} conn · ${formatRate(row.messages_per_second)}/s`;
      return li;
    }),
  );
}

const conn = /** @type {HTMLButtonElement} */ ($('conn'));
const connError = $('conn-error');
const statsEl = document.querySelector('.stats');
const connText = $('conn-text');
let connState = { state: 'connecting', attempt: 0, retryAt: undefined };

function connLabel() {
  const { state, attempt, retryAt } = connState;
  if (state === 'connected') return 'Connected';
  if (state === 'unauthorized') return 'Token required';
  if (state === 'connecting') return 'Connecting…';
  if (retryAt === undefined) return `Reconnecting… (attempt ${attempt})`;
  const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  return `Reconnecting in ${seconds}s · retry now`;
}

function onState(next) {
  connState = next;
  conn.dataset.state = next.state;
  conn.disabled = next.state === 'connected' || next.state === 'connecting';
  conn.title =
    next.state === 'reconnecting'
      ? `Disconnected; attempt ${next.attempt}. Click to retry now.`
      : 'Monitor socket state';
  connText.textContent = connLabel();
  // The reason stays until the socket opens: a retry that fails the same way does not blank it.
  if (next.refusal !== undefined) {
    connError.textContent = explain(next.refusal);
    connError.dataset.refusal = next.refusal;
    connError.hidden = false;
  } else if (next.state === 'connected') {
    connError.hidden = true;
  } else if (next.state === 'unauthorized') {
    connError.textContent = explain('unauthorized');
    connError.dataset.refusal = 'unauthorized';
    connError.hidden = false;
  }
  // Figures from a lost connection stay visible, dimmed, until fresh stats arrive.
  statsEl.classList.toggle('stale', next.state !== 'connected');
  if (next.state === 'unauthorized') askToken();
}

const socket = new MonitorSocket(MONITOR_PATH, { onFrame, onState, onSkipped });
conn.addEventListener('click', () => (connState.state === 'unauthorized' ? askToken() : socket.retryNow()));

const tokenDialog = /** @type {HTMLDialogElement} */ ($('token-dialog'));
function askToken() {
  if (!tokenDialog.open) tokenDialog.showModal();
}
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  tokenDialog.close();
  socket.useToken(/** @type {HTMLInputElement} */ ($('token-input')).value.trim());
});
$('token-cancel').addEventListener('click', () => tokenDialog.close());

// ---- the frame loop -----------------------------------------------------------------------------

let last = performance.now();
let lastSessions = 0;
let lastSample = last;

function frame(now) {
  requestAnimationFrame(frame);
  const dt = Math.min(0.1, Math.max(0, (now - last) / 1000));
  last = now;
  dotBudget = Math.min(3, dotBudget + dt * DOTS_PER_S);
  while (dotBudget >= 1 && dotQueue.length > 0) {
    const s = dotQueue.shift();
    dotBudget--;
    if (graph.spawn(s.path, s.error, s.duplicate)) animatedCount++;
  }
  graph.frame(now, dt);
  feed.flush(now);
  if (statsDirty) paintStats();
  if (skippedDirty) paintSkipped();
  if (instancesDirty) paintInstances();
  if (now - lastSessions >= 1000) {
    lastSessions = now;
    sessions.render(Date.now());
    if (connState.state === 'reconnecting') connText.textContent = connLabel();
  }
  if (now - lastSample >= 1000) {
    const seconds = (now - lastSample) / 1000;
    lastSample = now;
    const shown = animatedCount < matchedCount * 0.9;
    $('flow-sample').textContent = shown
      ? `animating ${formatRate(animatedCount / seconds)} of ${formatRate(matchedCount / seconds)} events/s`
      : '';
    matchedCount = 0;
    animatedCount = 0;
    // Adaptive sample: when handling frames took too much of the last second, ask for half as many.
    if (busyMs > seconds * 1000 * BUSY_SHARE && sample > MIN_SAMPLE && streamKey.includes('sample')) {
      sample = Math.max(MIN_SAMPLE, Math.floor(sample / 2));
      updateStream();
    }
    busyMs = 0;
  }
}

// ---- start --------------------------------------------------------------------------------------

fetch('health', { cache: 'no-store' })
  .then((res) => (res.ok ? res.json() : null))
  .then((health) => {
    if (health && stats === null) {
      stats = { ...health, messages_per_second: undefined, dropped: 0 };
      statsDirty = true;
    }
  })
  .catch(() => undefined);
void loadMap(FLOW_MAP_PATH);
fetch(CONFIG_PATH, { cache: 'no-store' })
  .then((res) => (res.ok ? res.json() : null))
  .then((config) => {
    const path = config && typeof config.monitor_endpoint === 'string' ? config.monitor_endpoint : '';
    if (path.startsWith('/')) socket.path = path.slice(1);
  })
  .catch(() => undefined)
  .finally(() => {
    updateStream();
    socket.connect();
  });
requestAnimationFrame(frame);
