// `npm run bench -- --quick` runs end to end and writes a well-formed results file. Speed is what the
// benchmark reports, never what a test asserts: only the shape of the results is checked here.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../src/config/env.js';
import { chromiumPath } from './support/browser.js';
import { NATS_SERVER } from '../harness/nats-server.mjs';
import { REDIS_SERVER } from '../harness/redis-server.mjs';

const RUN = join(PACKAGE_ROOT, 'bench', 'run.mjs');
const RESULTS_DIR = join(PACKAGE_ROOT, 'bench', 'results');
const SCENARIOS = ['throughput', 'monitors', 'latency', 'idle', 'malformed', 'scale-out', 'modes'];
/** Scenarios with service and baseline runs of their own; scale-out and modes are compared with others. */
const PAIRED = SCENARIOS.filter((name) => !['scale-out', 'modes'].includes(name));
/** The bench skips scenario 6 (WORKERS=2 with Redis) when it finds no redis-server, as the tests do. */
const HAS_REDIS = REDIS_SERVER !== undefined && existsSync(REDIS_SERVER);
const HAS_NATS = NATS_SERVER !== undefined && existsSync(NATS_SERVER);
/** Scenario 7's rows: fast mode always, a sink's row when its broker is installed. */
const MODES = ['fast', ...(HAS_REDIS ? ['redis-stream'] : []), ...(HAS_NATS ? ['nats'] : [])];
const SINK_LABELS: Record<string, string> = { 'redis-stream': 'SINK=redis-stream', nats: 'SINK=nats' };
const LOAD_FIGURES = [
  'acks_per_s',
  'latency_p50_ms',
  'latency_p99_ms',
  'latency_max_ms',
  'cpu_s_per_100k',
  'rss_mib',
];
const IDLE_FIGURES = ['kib_per_connection', 'rss_mib'];
const TARGETS = [
  'Throughput',
  'Throughput with 2 monitors',
  'p99 ack latency',
  'Memory per idle connection',
  'Events frames per monitor per second',
  'Malformed frames answered with errors',
  ...MODES.filter((m) => m !== 'fast').flatMap((m) => [
    `Throughput, ${SINK_LABELS[m]} / fast mode`,
    `Service CPU per ack, ${SINK_LABELS[m]} / fast mode`,
  ]),
];
const isCI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

type Figures = Record<string, number | null>;

interface Scenario {
  id: number;
  name: string;
  service: Figures;
  baseline: Figures;
  ratio: Figures;
  runs: { target: string; rep: number; figures: Figures }[];
  /** Scenario 6 only. */
  skipped?: string;
  measured_with?: number;
  single_process?: Figures;
  scale_out_gain?: Figures;
  /** Scenario 7 only. */
  rows?: ModeRow[];
  missing?: Record<string, string>;
}

interface ModeRow {
  mode: string;
  figures: Figures;
  ratio?: Figures;
  goals?: { name: string; measured: number | null; met: unknown }[];
  met?: unknown;
}

interface MonitorCost {
  rate: number;
  rows: { id: string; skipped?: string; median: Figures; cpu_ratio: number | null }[];
  goals: { name: string; measured: number | null; met: boolean | null }[];
}

interface Results {
  quick: boolean;
  monitor_cost?: MonitorCost;
  machine: { cpu: string; cores: number; node: string };
  scenarios: Scenario[];
  targets: {
    name: string;
    measured: number | null;
    replies_as_sent: boolean;
    met: boolean | null;
  }[];
}

/** ~30 s on a quiet 2-core machine; generous, for a shared one. Never a speed check. */
const BENCH_TIMEOUT_MS = 300_000;

const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Runs the bench and reads back the results file it names. */
async function bench(args: string[], extraEnv: Record<string, string> = {}) {
  // Not NODE_OPTIONS from `npm test`: the bench and its servers run as plain node processes.
  const env = { ...process.env, ...extraEnv };
  delete env.NODE_OPTIONS;
  const { stdout } = await promisify(execFile)(process.execPath, [RUN, ...args], {
    cwd: PACKAGE_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
    // Ends the run before the hook times out, so a bench that overruns is not left holding Jest open.
    timeout: BENCH_TIMEOUT_MS - 10_000,
  });
  const file = /^Raw figures: (\S+\.json) /m.exec(stdout)?.[1];
  expect(file).toBeDefined();
  const path = join(PACKAGE_ROOT, file!);
  expect(path.startsWith(RESULTS_DIR)).toBe(true);
  return { stdout, results: JSON.parse(readFileSync(path, 'utf8')) as Results };
}

describe('npm run bench -- --quick (e2e)', () => {
  let stdout: string;
  let results: Results;
  const byName = (name: string) => results.scenarios.find((s) => s.name === name)!;

  beforeAll(async () => {
    ({ stdout, results } = await bench(['--quick']));
  }, BENCH_TIMEOUT_MS);

  it('records the machine and that the run was quick', () => {
    expect(results.quick).toBe(true);
    const { cpu, cores, node } = results.machine;
    expect([typeof cpu, typeof cores, node]).toEqual(['string', 'number', process.version]);
  });

  it('has every scenario, in order', () => {
    expect(results.scenarios.map((s) => s.name)).toEqual(SCENARIOS);
  });

  it.each(PAIRED)('%s: numeric figures for service and baseline, and their ratios', (name) => {
    const scenario = byName(name);
    let figures = name === 'idle' ? IDLE_FIGURES : LOAD_FIGURES;
    if (name === 'monitors') figures = [...figures, 'monitor_frames_per_s'];
    for (const key of figures) {
      const numeric = [scenario.service[key], scenario.baseline[key], scenario.ratio[key]].map(isNumber);
      expect([key, numeric]).toEqual([key, [true, true, true]]);
    }
    expect(scenario.runs.map((r) => r.target).sort()).toEqual(['baseline', 'service']);
  });

  it(`scale-out: ${HAS_REDIS ? 'WORKERS=2 with Redis measured and compared with scenario 2' : 'skipped without redis-server'}`, () => {
    const scenario = byName('scale-out');
    // Under CI the run must measure scenario 6: .ci/run installs redis-server.
    if (!HAS_REDIS && isCI)
      throw new Error('redis-server not found under CI=true: scenario 6 was not measured');
    if (!HAS_REDIS) {
      expect({ skipped: typeof scenario.skipped, runs: scenario.runs }).toEqual({
        skipped: 'string',
        runs: [],
      });
      return;
    }
    const monitors = byName('monitors');
    expect(scenario.skipped).toBeUndefined();
    expect(scenario.measured_with).toBe(2);
    // The same baseline figures as scenario 2, and scenario 2's single-process service.
    expect(scenario.baseline).toEqual(monitors.baseline);
    expect(scenario.single_process).toEqual(monitors.service);
    for (const key of [...LOAD_FIGURES, 'monitor_frames_per_s', 'monitor_events_per_s']) {
      const numeric = [scenario.service, scenario.ratio, scenario.scale_out_gain!].map((f) =>
        isNumber(f[key]),
      );
      expect([key, numeric]).toEqual([key, [true, true, true]]);
    }
    expect(isNumber(scenario.service.broker_cpu_s_per_100k)).toBe(true);
    // CPU and RSS were summed over the primary and both workers.
    expect(scenario.runs.map((r) => [r.target, r.figures.server_processes])).toEqual(
      scenario.runs.map(() => ['cluster', 3]),
    );
  });

  it(`modes: a row per mode with resumable clients (${MODES.join(', ')}), each sink as a ratio to fast mode`, () => {
    const scenario = byName('modes');
    // Under CI every row must be measured: .ci/run installs redis-server and nats-server.
    if (isCI && !(HAS_REDIS && HAS_NATS)) {
      throw new Error('redis-server or nats-server not found under CI=true: a sink row was not measured');
    }
    expect(scenario.measured_with).toBe(1);
    expect(scenario.rows!.map((r) => r.mode)).toEqual(MODES);
    expect(Object.keys(scenario.missing!).sort()).toEqual(
      ['redis-stream', 'nats'].filter((m) => !MODES.includes(m)).sort(),
    );
    expect(scenario.runs.map((r) => r.target)).toEqual(MODES);
    for (const row of scenario.rows!) {
      const figures = ['acks_per_s', 'latency_p99_ms', 'cpu_s_per_100k'];
      if (row.mode !== 'fast') figures.push('broker_cpu_s_per_100k');
      expect([row.mode, figures.map((key) => isNumber(row.figures[key]))]).toEqual([
        row.mode,
        figures.map(() => true),
      ]);
      // Every frame was acked (received or duplicate): no error reply, no connection closed.
      expect([
        row.mode,
        row.figures.acks_per_s! > 0,
        row.figures.error_ack_share,
        row.figures.closed_connections,
      ]).toEqual([row.mode, true, 0, 0]);
      if (row.mode === 'fast') continue;
      expect([row.mode, isNumber(row.ratio!.acks_per_s), isNumber(row.ratio!.cpu_s_per_100k)]).toEqual([
        row.mode,
        true,
        true,
      ]);
      // Whether a goal is met is the run's finding, never asserted here; only that it is stated.
      expect([row.mode, typeof row.met, row.goals!.map((g) => [isNumber(g.measured), typeof g.met])]).toEqual(
        [
          row.mode,
          'boolean',
          [
            [true, 'boolean'],
            [true, 'boolean'],
          ],
        ],
      );
    }
    expect(stdout).toContain(
      `| Figure | ${scenario.rows!.map((r) => (r.mode === 'fast' ? 'fast mode (no sink)' : `${SINK_LABELS[r.mode]} | × fast`)).join(' | ')} |`,
    );
  });

  it('every load scenario was acked and measured (a figure of 0 means the load never ran)', () => {
    for (const scenario of results.scenarios.filter(
      (s) => s.name !== 'idle' && s.name !== 'modes' && s.skipped === undefined,
    )) {
      expect([scenario.name, scenario.service.acks_per_s! > 0, scenario.baseline.acks_per_s! > 0]).toEqual([
        scenario.name,
        true,
        true,
      ]);
    }
  });

  it('counts only acks: no error replies to valid load, the malformed share in scenario 5', () => {
    const shares = results.scenarios
      .filter((s) => s.name !== 'idle' && s.skipped === undefined)
      .map((s) => [s.name, s.runs.map((r) => r.figures.error_ack_share)]);
    expect(shares).toEqual(
      shares.map(([name, runs]) => [
        name,
        (runs as number[]).map(() => (name === 'malformed' ? expect.closeTo(0.1, 2) : 0) as unknown),
      ]),
    );
  });

  it('reports every target with a verdict, without asserting that it is met', () => {
    expect(results.targets.map((t) => t.name)).toEqual(TARGETS);
    for (const t of results.targets) {
      expect([t.name, isNumber(t.measured), t.replies_as_sent, typeof t.met]).toEqual([
        t.name,
        true,
        true,
        'boolean',
      ]);
    }
  });

  it('monitor cost: each configuration at 20k events/s offered, CPU per ack as a ratio to 0 monitors, page figures, goals with verdicts', () => {
    const cost = results.monitor_cost!;
    expect(cost.rate).toBe(20_000);
    expect(cost.rows.map((r) => r.id)).toEqual(['none', 'sampled-1', 'sampled-100', 'full-1', 'page']);
    const page = cost.rows.at(-1)!;
    if (!chromiumPath && isCI) throw new Error('Chromium not found under CI=true: the page was not measured');
    expect(page.skipped === undefined).toBe(chromiumPath !== undefined);
    for (const row of cost.rows.filter((r) => r.skipped === undefined)) {
      const figures = ['acks_per_s', 'cpu_s_per_100k', 'error_replies'].map((k) => isNumber(row.median[k]));
      expect([row.id, figures, isNumber(row.cpu_ratio), row.median.error_replies]).toEqual([
        row.id,
        [true, true, true],
        true,
        0,
      ]);
    }
    for (const id of ['sampled-1', 'sampled-100']) {
      const { median } = cost.rows.find((r) => r.id === id)!;
      expect([id, isNumber(median.monitor_events_per_s), isNumber(median.sampled_from_per_s)]).toEqual([
        id,
        true,
        true,
      ]);
    }
    if (page.skipped === undefined) {
      const keys = ['page_long_task_share', 'page_frames_per_s', 'page_graph_exact'];
      expect(keys.map((k) => isNumber(page.median[k]))).toEqual([true, true, true]);
    }
    expect(cost.goals.map((g) => [g.name, typeof g.met])).toEqual([
      ['100 sampled monitors: CPU per ack over none', 'boolean'],
      ['Page long tasks (share of wall time)', page.skipped === undefined ? 'boolean' : 'object'],
      ['Page graph counts exact after the load', page.skipped === undefined ? 'boolean' : 'object'],
    ]);
    expect(stdout).toContain('| Configuration | acks/s | server CPU s / 100k acks | × 0 monitors |');
  });

  it('prints the markdown table', () => {
    expect(stdout).toContain('| Scenario | Figure | Service | Baseline | Service / baseline |');
    expect(stdout).toContain('| Target | Scenario | Measured | Limit | Met |');
    expect(stdout).toContain(
      HAS_REDIS
        ? '| Figure | Service, WORKERS=2 + Redis | Service, 1 process (scenario 2) |'
        : 'Scenario 6 (WORKERS=2 with Redis',
    );
  });
});

describe('npm run bench -- --scenarios=6 without redis-server (e2e)', () => {
  it('skips scenario 6 with a note, records it as skipped, and runs nothing else', async () => {
    const { stdout, results } = await bench(['--quick', '--scenarios=6'], {
      REDIS_SERVER_PATH: join(PACKAGE_ROOT, 'no-such-redis-server'),
    });
    expect(results.scenarios.map(({ id, name, skipped, runs }) => ({ id, name, skipped, runs }))).toEqual([
      {
        id: 6,
        name: 'scale-out',
        skipped: `REDIS_SERVER_PATH=${join(PACKAGE_ROOT, 'no-such-redis-server')} does not exist`,
        runs: [],
      },
    ]);
    expect(stdout).toContain(
      'Scenario 6 (WORKERS=2 with Redis, 50 conns × 8 in flight, 2 monitors) skipped: ',
    );
  }, 60_000);
});
