// Messages/s and errors/s over the last five minutes, drawn with uPlot (served from /vendor/uplot).
// One point per stats frame, held in fixed-length arrays.

const WINDOW_S = 300;
const MAX_POINTS = WINDOW_S + 30;

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function alpha(color, a) {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

const two = (n) => String(n).padStart(2, '0');

/** Local clock labels for the time axis, with seconds only when ticks are under a minute apart. */
function clock(ticks) {
  const seconds = ticks.length > 1 && ticks[1] - ticks[0] < 60;
  return ticks.map((t) => {
    const d = new Date(t * 1000);
    return `${d.getHours()}:${two(d.getMinutes())}${seconds ? ':' + two(d.getSeconds()) : ''}`;
  });
}

const shortNumber = (v) =>
  v >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(1)}`;

export class ThroughputChart {
  constructor(container, { rateEl, errorsEl, formatRate }) {
    this.container = container;
    this.rateEl = rateEl;
    this.errorsEl = errorsEl;
    this.formatRate = formatRate;
    this.xs = [];
    this.rates = [];
    this.errors = [];
    this.plot = null;
    this.uPlot = null;
    this.lastErrors = null;
    this.lastT = 0;
    /** Restarts and falls of the totals, drawn as labelled lines over the plot: { t, label }. */
    this.marks = [];
  }

  /** A labelled vertical line at `t` (seconds), such as "service restarted". */
  addMark(t, label) {
    this.marks.push({ t, label });
    this.placeMarks();
  }

  /** Marks are elements in uPlot's overlay, so they stay text (readable, and found by tests). */
  placeMarks() {
    if (!this.plot) return;
    const oldest = Date.now() / 1000 - WINDOW_S;
    this.marks = this.marks.filter((m) => m.t >= oldest);
    const over = this.plot.over;
    for (const el of over.querySelectorAll('.chart-mark')) el.remove();
    for (const { t, label } of this.marks) {
      const el = document.createElement('div');
      el.className = 'chart-mark';
      el.dataset.testid = 'chart-mark';
      el.style.left = `${this.plot.valToPos(t, 'x')}px`;
      el.textContent = label;
      over.append(el);
    }
  }

  async init() {
    try {
      const url = new URL('../vendor/uplot/uPlot.esm.js', import.meta.url);
      this.uPlot = (await import(url.href)).default;
    } catch {
      this.container.textContent = 'Chart unavailable (uPlot did not load).';
      return;
    }
    this.create();
    new ResizeObserver(() => this.resize()).observe(this.container);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.create());
  }

  /**
   * One stats frame: the server's messages/s and the errors counted since the previous frame.
   * @param {import('../../src/protocol/monitor-frames.js').StatsFrame} stats
   */
  push(stats) {
    const t = Date.now() / 1000;
    const total = stats.total_errors;
    let eps = 0;
    if (this.lastErrors !== null && total >= this.lastErrors && t > this.lastT) {
      eps = (total - this.lastErrors) / Math.max(1, t - this.lastT);
    }
    // A gap (reconnect, hidden tab) is drawn as a gap rather than a line across it.
    if (this.lastT && t - this.lastT > 3) this.append(this.lastT + 1, null, null);
    this.append(t, stats.messages_per_second, eps);
    this.lastErrors = total;
    this.lastT = t;
    this.rateEl.textContent = this.formatRate(stats.messages_per_second);
    this.errorsEl.textContent = this.formatRate(eps);
    this.plot?.setData([this.xs, this.rates, this.errors]);
    this.placeMarks();
  }

  append(t, rate, eps) {
    this.xs.push(t);
    this.rates.push(rate);
    this.errors.push(eps);
    if (this.xs.length > MAX_POINTS) {
      this.xs.shift();
      this.rates.shift();
      this.errors.shift();
    }
  }

  create() {
    if (!this.uPlot) return;
    this.plot?.destroy();
    const text = css('--muted') || '#8a97b1';
    const grid = css('--grid') || 'rgba(148,163,184,0.15)';
    const accent = css('--rate') || '#22d3ee';
    const err = css('--err') || '#f87171';
    const axis = {
      stroke: text,
      font: '11px system-ui, sans-serif',
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
    };
    const { width, height } = this.container.getBoundingClientRect();
    this.plot = new this.uPlot(
      {
        width: Math.max(200, Math.floor(width)),
        height: Math.max(100, Math.floor(height)),
        padding: [10, 12, 0, 0],
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        scales: {
          x: {
            time: true,
            range: () => {
              const now = Date.now() / 1000;
              return [now - WINDOW_S, now];
            },
          },
          y: { range: (_u, _min, max) => [0, Math.max(5, (max ?? 0) * 1.15)] },
        },
        axes: [
          { ...axis, space: 64, values: (_u, ticks) => clock(ticks) },
          { ...axis, size: 46, values: (_u, ticks) => ticks.map(shortNumber) },
        ],
        series: [
          {},
          {
            label: 'messages/s',
            stroke: accent,
            width: 2,
            fill: alpha(accent, 0.14),
            points: { show: false },
          },
          { label: 'errors/s', stroke: err, width: 1.5, fill: alpha(err, 0.16), points: { show: false } },
        ],
      },
      [this.xs, this.rates, this.errors],
      this.container,
    );
    this.placeMarks();
  }

  resize() {
    if (!this.plot) return;
    const { width, height } = this.container.getBoundingClientRect();
    if (width < 10 || height < 10) return;
    this.plot.setSize({ width: Math.floor(width), height: Math.floor(height) });
    this.placeMarks();
  }
}
