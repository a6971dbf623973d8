// `npm run bench`: measures the service (dist/main.js, one process) against bench/baseline-server.mjs
// (the same job on bare ws) under the same load, alternating them (A B A B) with a fresh server
// process per run, and reports medians, their ranges and the ratio service / baseline. Scenario 6
// runs the service as WORKERS=2 over a private redis-server and compares it with scenario 2;
// scenario 7 runs scenario 1 with resumable clients in fast mode and in each sink mode (modes.mjs).
// Options: --quick (tiny durations, for `npm run test:system`), --reps=N, --scenarios=1,3. Figures go to
// docs/benchmarks/latest.json (results.mjs).
// This file only orders the runs; each job has its module: settings.mjs (what to run), server.mjs
// (the server process), load.mjs (the load and one run's figures), figures.mjs (results and
// targets), report.mjs (what is printed).
import { authConnectMarkdown, runAuthConnect } from './auth-connect.mjs';
import { connectionsMarkdown, runConnections } from './connections.mjs';
import { framePool } from './frames.mjs';
import { gitRevision, loadOf, machine, scaleOutResult, scenarioResult, targetChecks } from './figures.mjs';
import { runOnce } from './load.mjs';
import { modesResult } from './modes.mjs';
import { monitorCostMarkdown, runMonitorCost } from './monitor-cost.mjs';
import { markdown, runLine } from './report.mjs';
import { saveResults } from './results.mjs';
import { findBinary } from '../harness/process.mjs';
import { snapshotBuild } from './server.mjs';
import {
  BATCH_MAX,
  CLUSTER_WORKERS,
  FLUSH_MS,
  LOAD_WORKERS,
  QUICK,
  SETTINGS,
  TARGETS,
  selectScenarios,
} from './settings.mjs';

const { scenarios, brokers, skipped: SKIPPED } = selectScenarios();
const FRAMES = framePool(0, 0);

snapshotBuild();
console.error(`Node ${process.version} (${process.execPath})`);

// `--scenario connections` (or --scenario=connections): only the connections scenario.
const argv = process.argv.slice(2);
const onlyConnections =
  argv.includes('--scenario=connections') || argv.join(' ').includes('--scenario connections');
const fullRun = !QUICK && !argv.some((a) => a.startsWith('--scenarios'));
if (onlyConnections) {
  const rows = await runConnections(findBinary('redis-server', 'REDIS_SERVER_PATH').binary);
  const workers = Number(argv.find((a) => a.startsWith('--workers='))?.split('=')[1] ?? 0);
  const part = workers > 1 ? `connections, WORKERS=${workers}` : 'connections';
  const record = { created_at: new Date().toISOString(), node: process.version, machine: machine(), rows };
  const file = saveResults(part, record);
  console.log(`Node ${process.version}\n\n${connectionsMarkdown(rows)}\n\nRaw figures: ${file} (${part})`);
  process.exit(0);
}

// `--scenario monitor-cost`: only the cost of watching (bench/monitor-cost.mjs).
if (argv.includes('--scenario=monitor-cost') || argv.join(' ').includes('--scenario monitor-cost')) {
  const monitorCost = await runMonitorCost();
  const record = {
    created_at: new Date().toISOString(),
    quick: QUICK,
    machine: machine(),
    revision: gitRevision(),
    monitor_cost: monitorCost,
  };
  const file = saveResults('monitor-cost', record);
  console.log(
    `Node ${process.version}\n\n${monitorCostMarkdown(monitorCost)}\n\nRaw figures: ${file} (monitor-cost)`,
  );
  process.exit(0);
}

// `--scenario auth-connect`: only connection setup with static tokens vs JWT (bench/auth-connect.mjs).
if (argv.includes('--scenario=auth-connect') || argv.join(' ').includes('--scenario auth-connect')) {
  const authConnect = await runAuthConnect();
  const record = {
    created_at: new Date().toISOString(),
    quick: QUICK,
    machine: machine(),
    revision: gitRevision(),
    auth_connect: authConnect,
  };
  const file = saveResults('auth-connect', record);
  console.log(
    `Node ${process.version}\n\n${authConnectMarkdown(authConnect)}\n\nRaw figures: ${file} (auth-connect)`,
  );
  process.exit(0);
}

async function runAndLog(scenario, target, rep) {
  const t = performance.now();
  const figures = await runOnce(scenario, TARGETS[target], brokers);
  runLine(scenario, target, rep, figures, (performance.now() - t) / 1000);
  return { target, rep, figures };
}

const started = Date.now();
const runsOf = new Map(scenarios.map((s) => [s.id, []]));
for (const scenario of scenarios.filter((s) => s.runsWith === undefined)) {
  const riders = scenarios.filter((s) => s.runsWith === scenario.id && !SKIPPED.has(s.id));
  for (let rep = 1; rep <= SETTINGS.reps; rep++) {
    for (const sc of [scenario, ...riders]) {
      for (const target of sc.targets ?? ['service', 'baseline']) {
        runsOf.get(sc.id).push(await runAndLog(sc, target, rep));
      }
    }
  }
}
const results = [];
for (const scenario of scenarios) {
  const runs = runsOf.get(scenario.id);
  if (SKIPPED.has(scenario.id)) {
    const { id, name, title } = scenario;
    results.push({ id, name, title, load: loadOf(scenario), skipped: SKIPPED.get(id), runs });
  } else if (scenario.runsWith !== undefined) {
    const reference = results.find((r) => r.id === scenario.runsWith);
    results.push(
      scenario.name === 'modes'
        ? modesResult(scenario, runs, reference)
        : scaleOutResult(scenario, runs, reference),
    );
  } else {
    results.push(scenarioResult(scenario, runs));
  }
}

const byId = Object.fromEntries(results.map((r) => [r.id, r]));
const result = {
  created_at: new Date().toISOString(),
  quick: QUICK,
  duration_s: Math.round((Date.now() - started) / 100) / 10,
  machine: machine(),
  revision: gitRevision(),
  settings: {
    reps: SETTINGS.reps,
    order:
      'service, baseline per repetition (A B A B), fresh server process per run; scenario 6 ' +
      `(WORKERS=${CLUSTER_WORKERS}, fresh redis-server per run) runs after scenario 2's pair in each repetition; ` +
      "scenario 7 (fast, SINK=redis-stream, SINK=nats; fresh broker per sink run) after scenario 1's pair",
    warmup_s: SETTINGS.warmupS,
    measure_s: SETTINGS.measureS,
    load_workers: LOAD_WORKERS,
    frame_bytes: Math.round(FRAMES.reduce((sum, f) => sum + f.length, 0) / FRAMES.length),
    monitor_flush_ms: FLUSH_MS,
    monitor_batch_max: BATCH_MAX,
    log_level: 'INFO',
  },
  scenarios: results,
  targets: targetChecks(byId),
  // The full run also measures the connections scenario (single process near its limit vs baseline).
  connections: fullRun ? await runConnections(findBinary('redis-server', 'REDIS_SERVER_PATH').binary) : undefined,
  // The cost of watching at a fixed 20k events/s (full and --quick runs, not with --scenarios).
  monitor_cost: argv.some((a) => a.startsWith('--scenarios')) ? undefined : await runMonitorCost(),
  // Connection setup with ES256 tokens beside static tokens (the full run).
  auth_connect: fullRun ? await runAuthConnect() : undefined,
};

const selected = argv.find((a) => a.startsWith('--scenarios'));
const part = fullRun || selected === undefined ? 'all' : `scenarios=${selected.split('=')[1]}`;
const file = saveResults(part, result);
console.log(markdown(result));
if (result.connections)
  console.log(`\nConnections (Node ${process.version}):\n\n${connectionsMarkdown(result.connections)}`);
if (result.monitor_cost) console.log(`\n${monitorCostMarkdown(result.monitor_cost)}`);
if (result.auth_connect) console.log(`\n${authConnectMarkdown(result.auth_connect)}`);
console.log(`\nRaw figures: ${file} (${part}; ${result.duration_s} s in all)`);
