// From runs to results: medians and ranges, ratios to the baseline, the scale-out comparison, the
// machine and revision the run was made on, and the targets checked against the figures.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { CLUSTER_WORKERS, FLUSH_MS, ROOT } from './settings.mjs';

/** How far a run's share of error replies may stray from the share of frames it sent malformed. */
const ERROR_SHARE_TOLERANCE = 0.01;
const fmtShare = (x) => x.toFixed(2);

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function summarise(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const med = {};
  const range = {};
  for (const key of keys) {
    const values = runs.map((r) => r[key]).filter((x) => typeof x === 'number');
    med[key] = median(values);
    range[key] = values.length > 0 ? [Math.min(...values), Math.max(...values)] : null;
  }
  return { median: med, range };
}

export function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

export function targetChecks(byId) {
  const checks = [];
  const ratio = (id, key) => byId[id]?.ratio[key] ?? null;
  // A target counts only acks ({"status":"received"}), and only when every run of its scenario, on
  // both sides, answered with errors exactly the share of frames it sent malformed: a server that
  // answers frames with errors (fast) meets no target.
  const repliesAsSent = (id) =>
    byId[id].runs.every(
      (r) =>
        Math.abs((r.figures.error_ack_share ?? 0) - byId[id].load.malformed_ratio) <= ERROR_SHARE_TOLERANCE,
    );
  const add = (name, scenario, measured, limit, ok, unit = '× baseline') => {
    const answered = byId[scenario].load.idle || repliesAsSent(scenario);
    const met = measured === null ? null : ok(measured) && answered;
    checks.push({ name, scenario, measured, limit, unit, replies_as_sent: answered, met });
  };
  if (byId[1]) add('Throughput', 1, ratio(1, 'acks_per_s'), '≥ 0.90', (r) => r >= 0.9);
  if (byId[2]) add('Throughput with 2 monitors', 2, ratio(2, 'acks_per_s'), '≥ 0.85', (r) => r >= 0.85);
  if (byId[3]) add('p99 ack latency', 3, ratio(3, 'latency_p99_ms'), '≤ 1.25', (r) => r <= 1.25);
  if (byId[4]) add('Memory per idle connection', 4, ratio(4, 'kib_per_connection'), '≤ 1.5', (r) => r <= 1.5);
  if (byId[2]) {
    // One frame per flush interval, allowing the one extra frame a window boundary can catch.
    const runs = byId[2].runs.filter((r) => r.target === 'service');
    const allowed = (r) => r.figures.monitor_window_s * (1000 / FLUSH_MS) + 1;
    add(
      'Events frames per monitor per second',
      2,
      byId[2].service.monitor_frames_per_s,
      `≤ ${1000 / FLUSH_MS} (1000 / ${FLUSH_MS} ms)`,
      () => runs.every((r) => r.figures.monitor_frames_max <= allowed(r)),
      'frames/s',
    );
  }
  if (byId[5]) {
    const { malformed_ratio: sent } = byId[5].load;
    add(
      'Malformed frames answered with errors',
      5,
      byId[5].service.error_ack_share,
      `${fmtShare(sent)} ± ${fmtShare(ERROR_SHARE_TOLERANCE)}`,
      (share) => Math.abs(share - sent) <= ERROR_SHARE_TOLERANCE,
      'of replies',
    );
  }
  // Scenario 7: each sink row's goals against fast mode, as its result states them.
  for (const row of byId[7]?.rows ?? []) checks.push(...(row.goals ?? []));
  return checks;
}

export function gitRevision() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', 'HEAD'),
      src_modified: git('status', '--porcelain', '--', 'src') !== '',
    };
  } catch {
    return null;
  }
}

/** a / b for every figure of a, or null where either is missing or b is 0. */
export function ratios(a, b) {
  return Object.fromEntries(
    Object.keys(a).map((key) => [key, a[key] !== null && b[key] ? a[key] / b[key] : null]),
  );
}

export function loadOf(scenario) {
  const { connections = null, inFlight = null, monitors = 0 } = scenario;
  return {
    connections: connections ?? scenario.idle,
    in_flight: inFlight,
    monitors,
    malformed_ratio: scenario.malformedRatio ?? 0,
    idle: Boolean(scenario.idle),
  };
}

export function scenarioResult(scenario, runs) {
  const summary = {
    service: summarise(runs.filter((r) => r.target === 'service').map((r) => r.figures)),
    baseline: summarise(runs.filter((r) => r.target === 'baseline').map((r) => r.figures)),
  };
  const { id, name, title } = scenario;
  return {
    id,
    name,
    title,
    load: loadOf(scenario),
    service: summary.service.median,
    baseline: summary.baseline.median,
    ratio: ratios(summary.service.median, summary.baseline.median),
    range: { service: summary.service.range, baseline: summary.baseline.range },
    runs,
  };
}

/**
 * Scenario 6: `service` is the cluster; `baseline` is scenario 2's (single-process) baseline, the
 * very figures scenario 2 shows; `single_process` is scenario 2's service. Its own runs are the
 * cluster's only.
 */
export function scaleOutResult(scenario, runs, reference) {
  const cluster = summarise(runs.map((r) => r.figures));
  const { id, name, title } = scenario;
  return {
    id,
    name,
    title,
    load: { ...loadOf(scenario), workers: CLUSTER_WORKERS, redis: true },
    measured_with: reference.id,
    service: cluster.median,
    baseline: reference.baseline,
    single_process: reference.service,
    ratio: ratios(cluster.median, reference.baseline),
    scale_out_gain: ratios(cluster.median, reference.service),
    comparisons: {
      ratio: `service with WORKERS=${CLUSTER_WORKERS} + Redis / single-process baseline (scenario ${reference.id})`,
      scale_out_gain: `service with WORKERS=${CLUSTER_WORKERS} + Redis / single-process service (scenario ${reference.id}, same run)`,
    },
    range: {
      service: cluster.range,
      baseline: reference.range.baseline,
      single_process: reference.range.service,
    },
    runs,
  };
}
