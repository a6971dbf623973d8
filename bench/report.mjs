// What the bench prints: a one-line progress note per run, and the markdown tables of the result
// (scenario 7's table is built in modes.mjs, beside its result).
import { modesTable } from './modes.mjs';

/** The figures the table shows, in order, and how to print them. */
export const FIGURES = [
  { key: 'acks_per_s', label: 'acks/s', digits: 0 },
  { key: 'latency_p50_ms', label: 'ack latency p50 (ms)', digits: 2 },
  { key: 'latency_p99_ms', label: 'ack latency p99 (ms)', digits: 2 },
  { key: 'latency_max_ms', label: 'ack latency max (ms)', digits: 1 },
  { key: 'cpu_s_per_100k', label: 'server CPU s / 100k frames', digits: 2 },
  { key: 'rss_mib', label: 'server RSS (MiB)', digits: 1 },
  { key: 'kib_per_connection', label: 'memory per idle conn (KiB)', digits: 2 },
  { key: 'monitor_frames_per_s', label: 'events frames / monitor / s', digits: 1 },
  { key: 'monitor_events_per_s', label: 'events / monitor / s', digits: 0 },
  // Not a figure of the server: how busy the rest of the machine was, to judge the run by.
  { key: 'other_cpu', label: 'other processes (cores)', digits: 2, noRatio: true },
];

export const fmt = (x, digits) =>
  x === null || x === undefined
    ? '–'
    : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A median with its range over the runs, when they differ. */
function cell(sc, column, key, digits) {
  const [lo, hi] = sc.range[column]?.[key] ?? [];
  const rangeText = lo !== undefined && lo !== hi ? ` (${fmt(lo, digits)}–${fmt(hi, digits)})` : '';
  return fmt(sc[column][key], digits) + rangeText;
}

/** The figures scenario 6 shows: the load figures, then how the processes shared the machine. */
const SCALE_OUT_FIGURES = [
  ...FIGURES.filter((f) => !['kib_per_connection', 'other_cpu'].includes(f.key)).map(
    (f) =>
      ({
        cpu_s_per_100k: { ...f, label: 'server CPU s / 100k frames (primary + workers)' },
        rss_mib: { ...f, label: 'server RSS (MiB, primary + workers)' },
      })[f.key] ?? f,
  ),
  { key: 'cpu_utilisation', label: 'server CPU (cores busy)', digits: 2 },
  { key: 'broker_cpu_s_per_100k', label: 'redis-server CPU s / 100k frames', digits: 2, noRatio: true },
  { key: 'load_generator_cpu', label: 'load generator (cores busy)', digits: 2, noRatio: true },
  ...FIGURES.filter((f) => f.key === 'other_cpu'),
];

function scaleOutTable(sc, result) {
  const ref = sc.measured_with;
  const lines = [
    `Scenario ${sc.id}. ${sc.title}: the load of scenario ${ref} on node:cluster (primary + ` +
      `${sc.load.workers} workers sharing the port) with a private redis-server (monitor events on the ` +
      `Redis bus, ids leased from Redis), run right after scenario ${ref}'s pair in each repetition. ` +
      `Reported, not a target. Every process, and the load generator, shares the ${result.machine.cores} cores.`,
    '',
    `| Figure | Service, WORKERS=${sc.load.workers} + Redis | Service, 1 process (scenario ${ref}) | ` +
      `Scale-out gain (${sc.load.workers} workers / 1 process) | Baseline, 1 process (scenario ${ref}) | ` +
      `vs single-process baseline (scenario ${ref}) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const f of SCALE_OUT_FIGURES) {
    if (sc.service[f.key] === undefined) continue;
    const ratio = (column) => (f.noRatio ? '' : fmt(sc[column][f.key], 2));
    lines.push(
      `| ${f.label} | ${cell(sc, 'service', f.key, f.digits)} | ${cell(sc, 'single_process', f.key, f.digits)} | ` +
        `${ratio('scale_out_gain')} | ${cell(sc, 'baseline', f.key, f.digits)} | ${ratio('ratio')} |`,
    );
  }
  return lines;
}

export function markdown(result) {
  const { machine: m, settings: s } = result;
  const lines = [
    `CBSA service vs bare \`ws\` baseline — ${m.cpu}, ${m.cores} cores, Node ${m.node}; ` +
      `median of ${s.reps} run(s) each, alternated; ${s.warmup_s} s warm-up + ${s.measure_s} s measured` +
      (result.quick ? ' (--quick: figures are not meaningful)' : ''),
    '',
    '| Scenario | Figure | Service | Baseline | Service / baseline |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const sc of result.scenarios) {
    if (sc.skipped !== undefined || sc.measured_with !== undefined) continue;
    let first = true;
    for (const f of FIGURES) {
      if (sc.service[f.key] === undefined && sc.baseline[f.key] === undefined) continue;
      lines.push(
        `| ${first ? `${sc.id}. ${sc.title}` : ''} | ${f.label} | ${cell(sc, 'service', f.key, f.digits)} | ` +
          `${cell(sc, 'baseline', f.key, f.digits)} | ${f.noRatio ? '' : fmt(sc.ratio[f.key], 2)} |`,
      );
      first = false;
    }
  }
  for (const sc of result.scenarios) {
    if (sc.skipped !== undefined) lines.push('', `Scenario ${sc.id} (${sc.title}) skipped: ${sc.skipped}.`);
    else if (sc.rows !== undefined) lines.push('', ...modesTable(sc, result));
    else if (sc.measured_with !== undefined) lines.push('', ...scaleOutTable(sc, result));
  }
  lines.push('', '| Target | Scenario | Measured | Limit | Met |', '| --- | ---: | ---: | ---: | --- |');
  for (const t of result.targets) {
    const met = t.met === null ? '–' : t.met ? 'yes' : '**no**';
    lines.push(`| ${t.name} | ${t.scenario} | ${fmt(t.measured, 2)} ${t.unit} | ${t.limit} | ${met} |`);
  }
  const other = result.scenarios
    .flatMap((sc) => sc.runs.map((r) => r.figures.other_cpu))
    .filter((x) => typeof x === 'number');
  lines.push('', 'Figures in parentheses are the range over the runs.');
  if (other.length > 0) {
    lines.push(
      `Other processes kept ${fmt(Math.min(...other), 2)}–${fmt(Math.max(...other), 2)} cores busy ` +
        'during the measured windows' +
        (Math.max(...other) > 0.1 ? ': the machine was not quiet, so read ratios with their ranges.' : '.'),
    );
  }
  return lines.join('\n');
}

/** The progress line for one run, on stderr. */
export function runLine(scenario, target, rep, figures, seconds) {
  const shown = scenario.idle
    ? `${fmt(figures.kib_per_connection, 2)} KiB/conn, RSS ${fmt(figures.rss_mib, 1)} MiB`
    : `${fmt(figures.acks_per_s, 0)} acks/s, p99 ${fmt(figures.latency_p99_ms, 2)} ms, ` +
      `server CPU ${fmt(figures.cpu_utilisation * 100, 0)}%, ` +
      (figures.broker_cpu_utilisation === undefined
        ? ''
        : `broker CPU ${fmt(figures.broker_cpu_utilisation * 100, 0)}%, `) +
      `other processes ${fmt(figures.other_cpu * 100, 0)}%` +
      (figures.monitor_frames_per_s === undefined
        ? ''
        : `, ${fmt(figures.monitor_frames_per_s, 1)} monitor frames/s`) +
      (figures.error_ack_share > 0 ? `, ${fmt(figures.error_ack_share * 100, 1)}% error acks` : '') +
      (figures.closed_connections > 0 ? `, ${figures.closed_connections} connections closed` : '');
  console.error(
    `[${scenario.id}. ${scenario.name}] ${target.padEnd(8)} rep ${rep}: ${shown} ` +
      `(${seconds.toFixed(1)} s)`,
  );
}
