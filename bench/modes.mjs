// Scenario 7: scenario 1's load with resumable clients, once per mode (fast, SINK=redis-stream,
// SINK=nats), each sink row as a ratio to the fast row of the same run, with its goals (throughput
// ≥ 0.7×, service CPU per ack ≤ 1.5×). The result and its table.
import { fmt } from './report.mjs';
import { loadOf, ratios, summarise } from './figures.mjs';
import { MODE_GOALS } from './settings.mjs';

const MODES = {
  fast: { label: 'fast mode (no sink)', broker: null },
  'redis-stream': { label: 'SINK=redis-stream', broker: 'redis-server' },
  nats: { label: 'SINK=nats', broker: 'nats-server -js' },
};

/** What the table shows, in order; `ratio: false` for figures with no fast-mode counterpart. */
const FIGURES = [
  { key: 'acks_per_s', label: 'acks/s (received + duplicate)', digits: 0 },
  { key: 'latency_p50_ms', label: 'ack latency p50 (ms)', digits: 2 },
  { key: 'latency_p99_ms', label: 'ack latency p99 (ms)', digits: 2 },
  { key: 'latency_max_ms', label: 'ack latency max (ms)', digits: 1 },
  { key: 'cpu_s_per_100k', label: 'service CPU s / 100k acks', digits: 2 },
  { key: 'broker_cpu_s_per_100k', label: 'broker CPU s / 100k acks', digits: 2, ratio: false },
  { key: 'gc_pause_s_per_100k', label: 'service GC pauses s / 100k acks', digits: 3 },
  { key: 'cpu_utilisation', label: 'service CPU (cores busy)', digits: 2 },
  { key: 'broker_cpu_utilisation', label: 'broker CPU (cores busy)', digits: 2, ratio: false },
  { key: 'rss_mib', label: 'service RSS (MiB)', digits: 1 },
  { key: 'broker_rss_mib', label: 'broker RSS (MiB)', digits: 1, ratio: false },
  { key: 'error_ack_share', label: 'error replies (share)', digits: 3, ratio: false },
  { key: 'closed_connections', label: 'connections closed by the server', digits: 0, ratio: false },
  { key: 'load_generator_cpu', label: 'load generator (cores busy)', digits: 2, ratio: false },
  { key: 'other_cpu', label: 'other processes (cores)', digits: 2, ratio: false },
];

/**
 * Scenario 7's result: one row per mode measured (a sink whose broker is missing has none, and is
 * named in `missing`). A goal is met only when its ratio is within the limit and every run of the
 * row and of fast mode answered no frame with an error and lost no connection: error replies are
 * never acks, and a mode that refuses frames meets nothing.
 */
export function modesResult(scenario, runs, plain) {
  const runsOf = (mode) => runs.filter((r) => r.target === mode);
  const clean = (mode) =>
    runsOf(mode).every((r) => r.figures.error_ack_share === 0 && r.figures.closed_connections === 0);
  const fast = summarise(runsOf('fast').map((r) => r.figures));
  const rows = scenario.targets.map((mode) => {
    const summary = summarise(runsOf(mode).map((r) => r.figures));
    const row = {
      mode,
      label: MODES[mode].label,
      broker: MODES[mode].broker,
      figures: summary.median,
      range: summary.range,
    };
    if (mode === 'fast') {
      // What resumability costs by itself: fast mode with resumable clients / scenario 1's service.
      if (plain) row.ratio_to_scenario_1 = ratios(summary.median, plain.service);
      return row;
    }
    row.ratio = ratios(summary.median, fast.median);
    const repliesClean = clean(mode) && clean('fast');
    const goal = (name, key, limit, ok) => {
      const measured = row.ratio[key] ?? null;
      return {
        name: `${name}, ${MODES[mode].label} / fast mode`,
        scenario: scenario.id,
        figure: key,
        measured,
        limit,
        unit: '× fast mode',
        replies_as_sent: repliesClean,
        met: measured !== null && ok(measured) && repliesClean,
      };
    };
    row.goals = [
      goal(
        'Throughput',
        'acks_per_s',
        `≥ ${MODE_GOALS.throughput.toFixed(2)}`,
        (r) => r >= MODE_GOALS.throughput,
      ),
      goal(
        'Service CPU per ack',
        'cpu_s_per_100k',
        `≤ ${MODE_GOALS.cpuPerAck.toFixed(2)}`,
        (r) => r <= MODE_GOALS.cpuPerAck,
      ),
    ];
    row.met = row.goals.every((g) => g.met);
    return row;
  });
  const { id, name, title } = scenario;
  return {
    id,
    name,
    title,
    load: { ...loadOf(scenario), resumable: true },
    measured_with: scenario.runsWith,
    reference: 'fast',
    goals: { throughput_min: MODE_GOALS.throughput, cpu_per_ack_max: MODE_GOALS.cpuPerAck },
    missing: scenario.missing ?? {},
    rows,
    runs,
  };
}

/** A median with its range over the runs, when they differ. */
function cell(row, key, digits) {
  const [lo, hi] = row.range[key] ?? [];
  const rangeText = lo !== undefined && lo !== hi ? ` (${fmt(lo, digits)}–${fmt(hi, digits)})` : '';
  return fmt(row.figures[key], digits) + rangeText;
}

/** Scenario 7's table (markdown lines): a column per mode, and each sink's ratio to fast mode. */
export function modesTable(sc, result) {
  const sinks = sc.rows.filter((r) => r.mode !== 'fast');
  const lines = [
    `Scenario ${sc.id}. ${sc.title}: the load of scenario ${sc.measured_with} with resumable clients ` +
      '(`?stream=<id>`, a `seq` in every frame), one fresh service process per mode and a fresh private ' +
      `broker per sink run, measured within scenario ${sc.measured_with}'s repetitions. Only ` +
      '`received` and `duplicate` replies count as acks. Broker CPU is read from the broker ' +
      `process's /proc/<pid>/stat. Every process shares the ${result.machine.cores} cores.`,
    '',
    `| Figure | ${sc.rows.map((r) => `${r.label}${sinks.includes(r) ? ' | × fast' : ''}`).join(' | ')} |`,
    `| --- | ${sc.rows.map((r) => (sinks.includes(r) ? '---: | ---:' : '---:')).join(' | ')} |`,
  ];
  for (const f of FIGURES) {
    if (sc.rows.every((r) => r.figures[f.key] === undefined)) continue;
    const cells = sc.rows.map((r) => {
      const value = r.figures[f.key] === undefined ? '–' : cell(r, f.key, f.digits);
      if (!sinks.includes(r)) return value;
      return `${value} | ${f.ratio === false ? '' : fmt(r.ratio[f.key], 2)}`;
    });
    lines.push(`| ${f.label} | ${cells.join(' | ')} |`);
  }
  for (const [mode, why] of Object.entries(sc.missing)) {
    lines.push('', `No ${MODES[mode].label} row: ${why}.`);
  }
  return lines;
}
