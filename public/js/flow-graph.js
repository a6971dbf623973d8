// The event flow map as a left-to-right SVG graph, layered by distance from the source. One group
// per node (data-node-id) with a live count, edges whose width and glow follow their recent rate,
// and dots that travel each sampled event's path. Everything shown comes from the map, so a
// replacement map draws as well as the default one.
import { DOT_SPEED, DotLayer, MAX_DOTS, SAMPLES } from './dots.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const NODE_W = 98;
const NODE_H = 46;
const MIN_COL_STEP = NODE_W + 24;
const MAX_ROW_STEP = NODE_H + 30;
const MIN_ROW_STEP = NODE_H + 10;
const PAD = 6;
const PAINT_COUNTS_MS = 200;
const PAINT_EDGES_MS = 250;
const RATE_HALF_LIFE_S = 1;
const LABEL_CHARS = 14;

export const ERROR_NODE = 'error';
export const ERROR_COLOR = '#ef4444';
export const NEUTRAL_COLOR = '#94a3b8';
/** Frames answered "duplicate": not a node of the map, shown as a mark, amber dots and trail chips. */
export const DUPLICATE = 'duplicate';
export const DUPLICATE_COLOR = '#f59e0b';
/**
 * Quarantined events (EVENT_SCHEMAS_DIR): not a node of the map. The server counts them under this
 * id in hello and stats `nodes`; the page then draws a node for it beside "ack" (withQuarantine).
 */
export const QUARANTINE_NODE = 'quarantine';
export const QUARANTINE_COLOR = '#d946ef';
const MARK_H = 15;
const PALETTE = ['#3b82f6', '#a855f7', '#f59e0b', '#10b981', '#ec4899', '#06b6d4', '#84cc16', '#f97316'];

const svg = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

/**
 * Columns and rows for a map, independent of pixels: a node's column is its BFS distance from
 * the source (nodes it cannot reach start one column past their deepest placed predecessor), and
 * each column is ordered by the mean row of its predecessors, sinks last on ties.
 */
export function layoutGraph(map) {
  const nodes = map.nodes;
  const n = nodes.length;
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const succ = nodes.map(() => []);
  const pred = nodes.map(() => []);
  const edges = [];
  for (const e of map.edges) {
    const a = index.get(e.from);
    const b = index.get(e.to);
    if (a === undefined || b === undefined) continue;
    succ[a].push(b);
    pred[b].push(a);
    edges.push({ a, b });
  }
  const layer = new Array(n).fill(-1);
  const bfs = (starts) => {
    const queue = [...starts];
    for (let q = 0; q < queue.length; q++) {
      for (const v of succ[queue[q]]) {
        if (layer[v] !== -1) continue;
        layer[v] = layer[queue[q]] + 1;
        queue.push(v);
      }
    }
  };
  let roots = nodes.flatMap((node, i) => (node.kind === 'source' ? [i] : []));
  if (roots.length === 0) roots = nodes.flatMap((_, i) => (pred[i].length === 0 ? [i] : []));
  if (roots.length === 0 && n > 0) roots = [0];
  for (const r of roots) layer[r] = 0;
  bfs(roots);
  for (let i = 0; i < n; i++) {
    if (layer[i] !== -1) continue;
    layer[i] = Math.max(-1, ...pred[i].map((p) => layer[p])) + 1;
    bfs([i]);
  }
  const columns = Array.from({ length: Math.max(0, ...layer) + 1 }, () => []);
  for (let i = 0; i < n; i++) columns[layer[i]].push(i);
  const row = new Array(n).fill(0);
  for (const [c, column] of columns.entries()) {
    const key = column.map((i) => {
      const before = pred[i].filter((p) => layer[p] < c);
      return before.length ? before.reduce((sum, p) => sum + row[p], 0) / before.length : 0;
    });
    const order = column.map((i, k) => ({ i, key: key[k], sink: nodes[i].kind === 'sink' ? 1 : 0 }));
    if (c > 0) order.sort((x, y) => x.key - y.key || x.sink - y.sink || x.i - y.i);
    order.forEach(({ i }, k) => (row[i] = k - (order.length - 1) / 2));
    column.splice(0, column.length, ...order.map((o) => o.i));
  }
  return { index, layer, row, edges, columns };
}

/**
 * The map plus a "quarantine" sink, fed by whatever node feeds "ack" (the events were acked there,
 * then stored in the quarantine log). Unchanged when the map already has such a node.
 */
export function withQuarantine(map) {
  if (!map || !Array.isArray(map.nodes) || !Array.isArray(map.edges)) return map;
  if (map.nodes.some((n) => n && n.id === QUARANTINE_NODE)) return map;
  const from = map.edges.find((e) => e && e.to === 'ack')?.from;
  return {
    ...map,
    nodes: [...map.nodes, { id: QUARANTINE_NODE, label: 'quarantine', kind: 'sink' }],
    edges: typeof from === 'string' ? [...map.edges, { from, to: QUARANTINE_NODE }] : map.edges,
  };
}

/** A cubic Bézier sampled into a polyline with cumulative lengths, for moving dots at even speed. */
function bezier(x1, y1, c1x, c1y, c2x, c2y, x2, y2) {
  const xs = new Float32Array(SAMPLES + 1);
  const ys = new Float32Array(SAMPLES + 1);
  const cum = new Float32Array(SAMPLES + 1);
  for (let i = 0; i <= SAMPLES; i++) {
    const t = i / SAMPLES;
    const u = 1 - t;
    xs[i] = u * u * u * x1 + 3 * u * u * t * c1x + 3 * u * t * t * c2x + t * t * t * x2;
    ys[i] = u * u * u * y1 + 3 * u * u * t * c1y + 3 * u * t * t * c2y + t * t * t * y2;
    if (i > 0) cum[i] = cum[i - 1] + Math.hypot(xs[i] - xs[i - 1], ys[i] - ys[i - 1]);
  }
  return {
    d: `M${x1} ${y1}C${c1x} ${c1y} ${c2x} ${c2y} ${x2} ${y2}`,
    xs,
    ys,
    cum,
    length: cum[SAMPLES],
  };
}

const truncate = (text) => (text.length > LABEL_CHARS ? text.slice(0, LABEL_CHARS - 1) + '…' : text);

export class FlowGraph {
  /**
   * `svgEl` holds edges and nodes; dots are drawn on `canvas`, stacked on top of it, by a worker
   * when the browser can (see dots.js), so moving dots cost the page no DOM, style or paint work.
   * `onActivate(node)` runs when a category or error node is clicked or activated by keyboard.
   */
  constructor(svgEl, canvas, { onActivate, formatCount }) {
    this.svg = svgEl;
    this.canvas = canvas;
    /** Drawing in this thread (no OffscreenCanvas): a DotLayer; else the worker that draws. */
    this.dotLayer = null;
    this.dotWorker = null;
    try {
      const offscreen = canvas.transferControlToOffscreen();
      this.dotWorker = new Worker(new URL('./dots-worker.js', import.meta.url), { type: 'module' });
      this.dotWorker.postMessage({ type: 'init', canvas: offscreen }, [offscreen]);
    } catch {
      this.dotWorker = null;
      this.dotLayer = new DotLayer(canvas);
    }
    /** When each dot in flight arrives (performance.now() ms), to keep at most MAX_DOTS. */
    this.dotsDue = [];
    this.readColors();
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.readColors());
    this.onActivate = onActivate;
    this.formatCount = formatCount;
    this.map = null;
    this.colors = new Map();
    this.size = { width: 0, height: 0 };
    this.lastCounts = 0;
    this.totals = null;
    this.sincePageOpened = false;
    /** Duplicates and gap events (sum of gaps): the server's totals, and what this page has seen. */
    this.integrityTotals = null;
    this.integritySeen = { duplicates: 0, gaps: 0 };
    this.paintedMarks = '';
    this.lastEdges = 0;
    this.svg.addEventListener('click', (e) => this.activate(e));
    // An edge's rate goes into its tooltip only when pointed at, not on every repaint.
    this.svg.addEventListener('pointerover', (e) => {
      const k = this.edgeEls?.findIndex((el) => el.line === e.target) ?? -1;
      if (k === -1) return;
      const el = this.edgeEls[k];
      el.title.textContent = `${el.name}: ${this.edgeRate[k].toFixed(1)} events/s`;
    });
    this.svg.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.activate(e);
      }
    });
  }

  /** Builds the graph for a map (counts start at zero). Returns false if the map is unusable. */
  setMap(map) {
    if (!map || !Array.isArray(map.nodes) || !Array.isArray(map.edges) || map.nodes.length === 0)
      return false;
    const nodes = map.nodes.filter((n) => n && typeof n.id === 'string');
    if (nodes.length === 0) return false;
    this.map = { nodes, edges: map.edges.filter((e) => e && typeof e.from === 'string') };
    this.layout = layoutGraph(this.map);
    const n = nodes.length;
    this.counts = new Float64Array(n);
    /** The server's cumulative counts per node (hello and stats), when it sent them. */
    this.totals = null;
    this.painted = new Float64Array(n).fill(-1);
    this.nodeRate = new Float64Array(n);
    this.nodeHits = new Float64Array(n);
    const m = this.layout.edges.length;
    this.edgeOf = new Map(this.layout.edges.map((e, k) => [e.a * n + e.b, k]));
    this.edgeHits = new Float64Array(m);
    this.edgeErrHits = new Float64Array(m);
    this.edgeRate = new Float64Array(m);
    this.edgeErrRate = new Float64Array(m);

    this.colors.clear();
    let next = 0;
    for (const node of nodes) {
      if (node.id === ERROR_NODE) this.colors.set(node.id, ERROR_COLOR);
      else if (node.id === QUARANTINE_NODE) this.colors.set(node.id, QUARANTINE_COLOR);
      else if (node.kind === 'category') {
        const isDefault = node.match && node.match.default === true;
        this.colors.set(node.id, isDefault ? NEUTRAL_COLOR : PALETTE[next++ % PALETTE.length]);
      }
    }
    this.build();
    this.place(this.size.width, this.size.height);
    return true;
  }

  indexOf(id) {
    return this.layout ? this.layout.index.get(id) : undefined;
  }

  colorOf(id) {
    return this.colors.get(id) ?? (id === DUPLICATE ? DUPLICATE_COLOR : NEUTRAL_COLOR);
  }

  labelOf(id) {
    const i = this.indexOf(id);
    return i === undefined ? id : this.map.nodes[i].label;
  }

  build() {
    const { nodes } = this.map;
    this.svg.replaceChildren();
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'arrow',
      viewBox: '0 0 8 8',
      refX: 7,
      refY: 4,
      markerWidth: 7,
      markerHeight: 7,
      markerUnits: 'userSpaceOnUse',
      orient: 'auto-start-reverse',
    });
    marker.append(svg('path', { d: 'M0 0L8 4L0 8z', class: 'arrow' }));
    defs.append(marker);
    const edgeLayer = svg('g', { class: 'edges' });
    const nodeLayer = svg('g', { class: 'nodes' });
    this.svg.append(defs, edgeLayer, nodeLayer);

    this.edgeEls = this.layout.edges.map(({ a, b }) => {
      const glow = svg('path', { class: 'edge-glow' });
      const line = svg('path', { class: 'edge', 'marker-end': 'url(#arrow)' });
      const title = svg('title');
      const name = `${nodes[a].label} → ${nodes[b].label}`;
      title.textContent = name;
      line.append(title);
      line.dataset.from = nodes[a].id;
      line.dataset.to = nodes[b].id;
      edgeLayer.append(glow, line);
      return { glow, line, title, name, geo: null };
    });

    this.nodeEls = nodes.map((node) => {
      const g = svg('g', { class: 'node' });
      g.dataset.nodeId = node.id;
      g.dataset.kind = node.kind;
      g.dataset.testid = 'flow-node';
      if (node.id === ERROR_NODE) g.classList.add('node-error');
      const color = this.colors.get(node.id);
      if (color) g.style.setProperty('--node-color', color);
      const interactive = node.kind === 'category' || node.id === ERROR_NODE;
      // Every node says its count: a button for the ones that filter, an image for the others.
      g.setAttribute('role', interactive ? 'button' : 'img');
      if (interactive) g.setAttribute('tabindex', '0');
      const halo = svg('rect', {
        class: 'node-halo',
        x: -3,
        y: -3,
        width: NODE_W + 6,
        height: NODE_H + 6,
        rx: 12,
      });
      const box = svg('rect', { class: 'node-box', width: NODE_W, height: NODE_H, rx: 9 });
      const accent = svg('rect', {
        class: 'node-accent',
        x: 0,
        y: 10,
        width: 3,
        height: NODE_H - 20,
        rx: 1.5,
      });
      const label = svg('text', { class: 'node-label', x: 11, y: 18 });
      label.textContent = truncate(String(node.label ?? node.id));
      const count = svg('text', { class: 'node-count', x: 11, y: 36 });
      count.dataset.testid = 'node-count';
      count.dataset.count = '0';
      count.textContent = '0';
      // No <title> tooltip: its text would join the visible text, and the name must hold that text.
      // The space between the two texts is not drawn (SVG draws only text in <text>), but keeps
      // "Touch 6" apart in the text assistive technology compares with the node's name.
      g.append(halo, box, accent, label, document.createTextNode(' '), count);
      nodeLayer.append(g);
      const el = { g, halo, count, name: truncate(String(node.label ?? node.id)), interactive };
      this.nameNode(el, 0);
      return el;
    });
    this.buildMarks(nodeLayer);
  }

  /**
   * Duplicates and gaps have no node of their own: the map is the server's. They show as two marks
   * on the top edge of the node where events are answered (the first sink that is not the error
   * node), hidden while zero, following the same toggle as the node counts.
   */
  buildMarks(layer) {
    const { nodes } = this.map;
    let at = nodes.findIndex((node) => node.kind === 'sink' && node.id !== ERROR_NODE);
    if (at === -1) at = nodes.length - 1;
    this.markAt = at;
    const group = svg('g', { class: 'node-marks' });
    const make = (kind, label) => {
      const g = svg('g', { class: `mark mark-${kind}` });
      g.dataset.testid = `flow-mark-${kind}`;
      g.dataset.count = '0';
      const title = svg('title');
      title.textContent = label;
      const box = svg('rect', { class: 'mark-box', height: MARK_H, rx: MARK_H / 2 });
      const text = svg('text', { class: 'mark-text', y: MARK_H / 2 + 3.5 });
      g.append(title, box, text);
      g.style.display = 'none';
      group.append(g);
      return { g, box, text };
    };
    this.marks = {
      duplicates: make(
        'duplicates',
        'Frames of resumable streams answered "duplicate" (already stored; not counted on the nodes)',
      ),
      gaps: make('gaps', 'Events resumable clients skipped (sum of the gaps the server reported)'),
    };
    layer.append(group);
    this.paintedMarks = '';
  }

  /** Counts one duplicate or gap this page has seen (duplicates are not recorded on the path). */
  recordIntegrity(duplicate, gap) {
    if (duplicate) this.integritySeen.duplicates++;
    if (gap > 0) this.integritySeen.gaps += gap;
  }

  /** The server's cumulative total_duplicates and total_gaps (stats frames). */
  setIntegrityTotals(duplicates, gaps) {
    if (typeof duplicates !== 'number' || typeof gaps !== 'number') return;
    this.integrityTotals = { duplicates, gaps };
  }

  paintMarks() {
    if (!this.marks || !this.pos) return;
    const shown =
      this.integrityTotals !== null && !this.sincePageOpened ? this.integrityTotals : this.integritySeen;
    const key = `${shown.duplicates}/${shown.gaps}/${this.pos[this.markAt].x}/${this.pos[this.markAt].y}`;
    if (key === this.paintedMarks) return;
    this.paintedMarks = key;
    const { x, y } = this.pos[this.markAt];
    let right = x + NODE_W;
    for (const [kind, label] of [
      ['gaps', `gap ${this.formatCount(shown.gaps)}`],
      ['duplicates', `dup ${this.formatCount(shown.duplicates)}`],
    ]) {
      const mark = this.marks[kind];
      const count = shown[kind];
      mark.g.dataset.count = String(count);
      mark.g.style.display = count > 0 ? '' : 'none';
      if (count === 0) continue;
      mark.text.textContent = label;
      const width = 12 + label.length * 6;
      right -= width;
      mark.g.setAttribute('transform', `translate(${right} ${y - MARK_H / 2 - 1})`);
      mark.box.setAttribute('width', String(width));
      mark.text.setAttribute('x', String(width / 2));
      right -= 4;
    }
  }

  readColors() {
    const style = getComputedStyle(this.svg);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    const colors = {
      ok: read('--accent', '#22d3ee'),
      err: read('--err', ERROR_COLOR),
      dup: DUPLICATE_COLOR,
      ring: read('--panel', '#0d1426'),
    };
    if (this.dotLayer) this.dotLayer.colors = colors;
    else this.dotWorker?.postMessage({ type: 'colors', colors });
  }

  /** Positions nodes and edges for a drawing area of width x height pixels. */
  place(width, height) {
    this.size = { width, height };
    if (!this.map) return;
    const { columns, layer, row, edges } = this.layout;
    const depth = columns.length;
    const tallest = Math.max(1, ...columns.map((c) => c.length));
    // Fill the panel, but never squeeze nodes together: a small screen scales the drawing instead.
    const w = Math.max(width || 0, depth * MIN_COL_STEP - (MIN_COL_STEP - NODE_W) + 2 * PAD);
    const colStep = depth > 1 ? (w - 2 * PAD - NODE_W) / (depth - 1) : 0;
    const fitRow = tallest > 1 ? ((height || 0) - 2 * PAD - NODE_H) / (tallest - 1) : MAX_ROW_STEP;
    const rowStep = Math.min(MAX_ROW_STEP, Math.max(MIN_ROW_STEP, fitRow));
    const h = Math.max(height || 0, (tallest - 1) * rowStep + NODE_H + 2 * PAD);
    this.svg.setAttribute('viewBox', `0 0 ${Math.round(w)} ${Math.round(h)}`);
    // A panel narrower than the map scrolls sideways instead of shrinking the text.
    const cssW = width && w > width ? Math.round(w) : width || Math.round(w);
    const cssH = height && h > height ? Math.round(h) : height || Math.round(h);
    for (const el of [this.svg, this.canvas]) {
      el.style.width = `${cssW}px`;
      el.style.height = `${cssH}px`;
    }
    const wrap = this.svg.parentElement;
    const scrolls = width > 0 && height > 0 && (cssW > width || cssH > height);
    wrap?.classList.toggle('scrolls', scrolls);
    // On a narrow screen, open on the middle of the map, where events fan out.
    if (wrap && scrolls && !this.centred) {
      this.centred = true;
      wrap.scrollLeft = (cssW - width) / 2;
    }
    // The canvas maps viewBox units the way the SVG does (xMidYMid meet).
    const dpr = window.devicePixelRatio || 1;
    const scale = Math.min(cssW / w, cssH / h);
    const view = { scale, x: (cssW - w * scale) / 2, y: (cssH - h * scale) / 2, dpr };
    const size = { width: Math.round(cssW * dpr), height: Math.round(cssH * dpr) };
    if (this.dotLayer) this.dotLayer.resize(size.width, size.height, view);
    else this.dotWorker?.postMessage({ type: 'resize', ...size, view });
    this.readColors();
    const x = (i) => Math.round(PAD + layer[i] * colStep);
    const y = (i) => Math.round(h / 2 + row[i] * rowStep - NODE_H / 2);
    this.pos = this.map.nodes.map((_, i) => ({ x: x(i), y: y(i) }));
    this.nodeEls.forEach((el, i) =>
      el.g.setAttribute('transform', `translate(${this.pos[i].x} ${this.pos[i].y})`),
    );
    edges.forEach(({ a, b }, k) => {
      const pa = this.pos[a];
      const pb = this.pos[b];
      let geo;
      if (layer[b] > layer[a]) {
        const x1 = pa.x + NODE_W;
        const y1 = pa.y + NODE_H / 2;
        const x2 = pb.x - 2;
        const y2 = pb.y + NODE_H / 2;
        const c = Math.max(20, (x2 - x1) / 2);
        geo = bezier(x1, y1, x1 + c, y1, x2 - c, y2, x2, y2);
      } else {
        // A back or same-column edge loops under the nodes.
        const x1 = pa.x + NODE_W / 2;
        const y1 = pa.y + NODE_H;
        const x2 = pb.x + NODE_W / 2;
        const y2 = pb.y + NODE_H + 2;
        const c = 36 + Math.abs(x2 - x1) * 0.15;
        geo = bezier(x1, y1, x1, y1 + c, x2, y2 + c, x2, y2);
      }
      const el = this.edgeEls[k];
      el.geo = geo;
      el.line.setAttribute('d', geo.d);
      el.glow.setAttribute('d', geo.d);
    });
    this.clearDots();
  }

  /** Counts one event on every node and edge of its path. Called per event: no DOM work here. */
  record(path, error) {
    if (!this.map) return;
    const n = this.map.nodes.length;
    let prev = -1;
    for (let k = 0; k < path.length; k++) {
      const i = this.layout.index.get(path[k]);
      if (i === undefined) {
        prev = -1;
        continue;
      }
      this.counts[i]++;
      this.nodeHits[i]++;
      if (prev !== -1) {
        const e = this.edgeOf.get(prev * n + i);
        if (e !== undefined) {
          this.edgeHits[e]++;
          if (error) this.edgeErrHits[e]++;
        }
      }
      prev = i;
    }
    // Whatever node malformed frames end on is drawn as an error node, whatever its id.
    if (error && prev !== -1 && !this.nodeEls[prev].g.classList.contains('node-error')) {
      this.nodeEls[prev].g.classList.add('node-error');
    }
  }

  /**
   * The server's cumulative counts by node id (`nodes` in hello and stats). While `sincePageOpened`
   * is false (the default) nodes show these; otherwise the events this page has counted itself.
   */
  setTotals(nodes) {
    if (!this.map || nodes === null || typeof nodes !== 'object') return;
    const totals = this.totals ?? new Float64Array(this.map.nodes.length);
    this.map.nodes.forEach((node, i) => {
      const value = nodes[node.id];
      if (typeof value === 'number') totals[i] = value;
    });
    this.totals = totals;
  }

  /** Switches the node counts between the server's totals and this page's own counts. */
  showSincePageOpened(on) {
    this.sincePageOpened = on;
    if (this.painted) this.painted.fill(-1);
    this.paintedMarks = '';
  }

  /** What a node's counter shows: the server's total unless the toggle says "since page opened". */
  shownCount(i) {
    return this.totals !== null && !this.sincePageOpened ? this.totals[i] : this.counts[i];
  }

  /** Starts a dot along `path` (amber for a duplicate); false when MAX_DOTS are already in flight. */
  spawn(path, error, duplicate = false) {
    if (!this.map || path.length < 2) return false;
    const now = performance.now();
    if (this.dotsDue.length >= MAX_DOTS) this.dotsDue = this.dotsDue.filter((due) => due > now);
    if (this.dotsDue.length >= MAX_DOTS) return false;
    const n = this.map.nodes.length;
    const segs = [];
    const stops = [];
    let prev = this.layout.index.get(path[0]);
    for (let k = 1; k < path.length && prev !== undefined; k++) {
      const i = this.layout.index.get(path[k]);
      if (i === undefined) break;
      const e = this.edgeOf.get(prev * n + i);
      if (e !== undefined) segs.push(this.edgeEls[e].geo);
      else {
        const a = this.pos[prev];
        const b = this.pos[i];
        segs.push(
          bezier(
            a.x + NODE_W,
            a.y + NODE_H / 2,
            a.x + NODE_W,
            a.y + NODE_H / 2,
            b.x,
            b.y + NODE_H / 2,
            b.x,
            b.y + NODE_H / 2,
          ),
        );
      }
      stops.push(this.colors.get(path[k]));
      prev = i;
    }
    if (segs.length === 0) return false;
    const dot = { segs, stops, error, duplicate };
    if (this.dotLayer) this.dotLayer.add(dot);
    else this.dotWorker?.postMessage({ type: 'add', dot });
    const length = segs.reduce((sum, geo) => sum + geo.length, 0);
    this.dotsDue.push(now + (length / DOT_SPEED) * 1000);
    return true;
  }

  clearDots() {
    this.dotsDue.length = 0;
    if (this.dotLayer) this.dotLayer.clear();
    else this.dotWorker?.postMessage({ type: 'clear' });
  }

  /** The accessible name: the label and count as shown (the exact count too when abbreviated). */
  nameNode(el, count) {
    const shown = this.formatCount(count);
    const exact = count.toLocaleString('en-US');
    const events = `${shown}${shown === exact ? '' : ` (${exact})`} event${count === 1 ? '' : 's'}`;
    el.g.setAttribute('aria-label', `${el.name} ${events}${el.interactive ? ': filter the feed' : ''}`);
  }

  /** Advances dots and repaints coalesced counters; called once per animation frame. */
  frame(now, dt) {
    if (!this.map) return;
    this.dotLayer?.draw(DOT_SPEED * dt);

    if (now - this.lastCounts >= PAINT_COUNTS_MS) {
      this.lastCounts = now;
      for (let i = 0; i < this.counts.length; i++) {
        const count = this.shownCount(i);
        if (count === this.painted[i]) continue;
        this.painted[i] = count;
        const el = this.nodeEls[i].count;
        el.textContent = this.formatCount(count);
        el.dataset.count = String(count);
        this.nameNode(this.nodeEls[i], count);
      }
      this.paintMarks();
    }
    if (now - this.lastEdges >= PAINT_EDGES_MS) {
      const seconds = this.lastEdges ? (now - this.lastEdges) / 1000 : PAINT_EDGES_MS / 1000;
      this.lastEdges = now;
      this.paintRates(seconds);
    }
  }

  paintRates(seconds) {
    const keep = Math.pow(0.5, seconds / RATE_HALF_LIFE_S);
    const blend = (old, hits) => old * keep + (hits / seconds) * (1 - keep);
    for (let e = 0; e < this.edgeEls.length; e++) {
      const rate = (this.edgeRate[e] = blend(this.edgeRate[e], this.edgeHits[e]));
      const errRate = (this.edgeErrRate[e] = blend(this.edgeErrRate[e], this.edgeErrHits[e]));
      this.edgeHits[e] = 0;
      this.edgeErrHits[e] = 0;
      const el = this.edgeEls[e];
      const level = Math.log10(1 + rate);
      el.line.style.strokeWidth = (1.25 + Math.min(3.5, level * 1.2)).toFixed(2);
      el.glow.style.strokeWidth = (4 + Math.min(8, level * 2.5)).toFixed(1);
      el.glow.style.opacity = rate < 0.05 ? '0' : Math.min(0.3, 0.08 + level * 0.07).toFixed(2);
      const hot = rate >= 0.05;
      const err = hot && errRate > rate / 2;
      el.line.classList.toggle('hot', hot && !err);
      el.line.classList.toggle('err', err);
      el.glow.classList.toggle('err', err);
    }
    for (let i = 0; i < this.nodeEls.length; i++) {
      const rate = (this.nodeRate[i] = blend(this.nodeRate[i], this.nodeHits[i]));
      this.nodeHits[i] = 0;
      this.nodeEls[i].halo.style.opacity =
        rate < 0.05 ? '0' : Math.min(0.9, 0.25 + Math.log10(1 + rate) * 0.2).toFixed(2);
    }
  }

  activate(event) {
    const g = event.target instanceof Element ? event.target.closest('g.node[role="button"]') : null;
    if (!g) return;
    const i = this.indexOf(g.dataset.nodeId);
    if (i !== undefined) this.onActivate(this.map.nodes[i]);
  }
}
