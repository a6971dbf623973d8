// The dots that travel sampled events' paths over the flow graph, drawn on one canvas. The page
// hands this canvas to a worker (dots-worker.js) when the browser can, so moving dots cost the
// page's main thread nothing: a canvas drawn on the main thread makes every animation frame a full
// style, layout, paint and commit pass over the page, the largest part of its main-thread time
// under load. Browsers without OffscreenCanvas draw them here, on the page's own frame loop.

export const SAMPLES = 24;
export const MAX_DOTS = 160;
const DOT_RADIUS = 4;
/** viewBox units per second; the default map's walk then takes about two seconds. */
export const DOT_SPEED = 480;

/** A point `dist` along a sampled Bézier (see flow-graph.js), written into `out`. */
export function pointAt(geo, dist, out) {
  let lo = 0;
  let hi = SAMPLES;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (geo.cum[mid] <= dist) lo = mid;
    else hi = mid;
  }
  const span = geo.cum[hi] - geo.cum[lo] || 1;
  const f = Math.min(1, Math.max(0, (dist - geo.cum[lo]) / span));
  out.x = geo.xs[lo] + (geo.xs[hi] - geo.xs[lo]) * f;
  out.y = geo.ys[lo] + (geo.ys[hi] - geo.ys[lo]) * f;
}

/**
 * Dots in flight on a canvas (an HTMLCanvasElement or an OffscreenCanvas). A dot is
 * `{ segs, stops, error, duplicate }`: the sampled segments of its path and the colour it takes
 * past each one.
 */
export class DotLayer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.dots = [];
    this.view = { scale: 1, x: 0, y: 0, dpr: 1 };
    this.colors = { ok: '#22d3ee', err: '#ef4444', dup: '#f59e0b', ring: '#0d1426' };
    this.point = { x: 0, y: 0 };
    this.drawn = false;
  }

  /** A new size in device pixels and the viewBox-to-canvas mapping; drops the dots in flight. */
  resize(width, height, view) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.view = view;
    this.clear();
  }

  add(dot) {
    if (this.dots.length >= MAX_DOTS) return;
    this.dots.push({ ...dot, seg: 0, dist: 0, color: null });
  }

  clear() {
    this.dots.length = 0;
    this.drawn = true;
  }

  /** Moves every dot `step` viewBox units on and redraws; nothing at all when idle. */
  draw(step) {
    if (this.dots.length === 0 && !this.drawn) return;
    const { ctx, view, colors } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const k = view.dpr * view.scale;
    ctx.setTransform(k, 0, 0, k, view.dpr * view.x, view.dpr * view.y);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = colors.ring;
    let kept = 0;
    for (let i = 0; i < this.dots.length; i++) {
      const dot = this.dots[i];
      dot.dist += step;
      while (dot.seg < dot.segs.length && dot.dist > dot.segs[dot.seg].length) {
        dot.dist -= dot.segs[dot.seg].length;
        // Past a category node the dot takes that category's colour.
        if (dot.stops[dot.seg]) dot.color = dot.stops[dot.seg];
        dot.seg++;
      }
      if (dot.seg >= dot.segs.length) continue;
      pointAt(dot.segs[dot.seg], dot.dist, this.point);
      ctx.beginPath();
      ctx.arc(this.point.x, this.point.y, DOT_RADIUS, 0, Math.PI * 2);
      ctx.fillStyle = dot.error ? colors.err : dot.duplicate ? colors.dup : (dot.color ?? colors.ok);
      ctx.fill();
      ctx.stroke();
      this.dots[kept++] = dot;
    }
    this.dots.length = kept;
    this.drawn = kept > 0;
  }
}
