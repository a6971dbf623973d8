// `npm run bench -- --quick` runs end to end and writes a well-formed results file. Speed is what the
// benchmark reports, never what a test asserts: only the shape of the results is checked here.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../src/config/env.js';

const RUN = join(PACKAGE_ROOT, 'bench', 'run.mjs');
const RESULTS_DIR = join(PACKAGE_ROOT, 'bench', 'results');
const SCENARIOS = ['throughput', 'monitors', 'latency', 'idle', 'malformed'];
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
];

interface Scenario {
  id: number;
  name: string;
  service: Record<string, number | null>;
  baseline: Record<string, number | null>;
  ratio: Record<string, number | null>;
  runs: { target: string; rep: number; figures: Record<string, number | null> }[];
}

interface Results {
  quick: boolean;
  machine: { cpu: string; cores: number; node: string };
  scenarios: Scenario[];
  targets: { name: string; measured: number | null; met: boolean | null }[];
}

const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

describe('npm run bench -- --quick (e2e)', () => {
  let stdout: string;
  let results: Results;

  beforeAll(async () => {
    // Not NODE_OPTIONS from `npm test`: the bench and its servers run as plain node processes.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    ({ stdout } = await promisify(execFile)(process.execPath, [RUN, '--quick'], {
      cwd: PACKAGE_ROOT,
      env,
      maxBuffer: 16 * 1024 * 1024,
    }));
    const file = /^Raw figures: (\S+\.json) /m.exec(stdout)?.[1];
    expect(file).toBeDefined();
    const path = join(PACKAGE_ROOT, file!);
    expect(path.startsWith(RESULTS_DIR)).toBe(true);
    results = JSON.parse(readFileSync(path, 'utf8')) as Results;
  }, 180_000);

  it('records the machine and that the run was quick', () => {
    expect(results.quick).toBe(true);
    const { cpu, cores, node } = results.machine;
    expect([typeof cpu, typeof cores, node]).toEqual(['string', 'number', process.version]);
  });

  it('has every scenario, in order', () => {
    expect(results.scenarios.map((s) => s.name)).toEqual(SCENARIOS);
  });

  it.each(SCENARIOS)('%s: numeric figures for service and baseline, and their ratios', (name) => {
    const scenario = results.scenarios.find((s) => s.name === name)!;
    let figures = name === 'idle' ? IDLE_FIGURES : LOAD_FIGURES;
    if (name === 'monitors') figures = [...figures, 'monitor_frames_per_s'];
    for (const key of figures) {
      const numeric = [scenario.service[key], scenario.baseline[key], scenario.ratio[key]].map(isNumber);
      expect([key, numeric]).toEqual([key, [true, true, true]]);
    }
    expect(scenario.runs.map((r) => r.target).sort()).toEqual(['baseline', 'service']);
  });

  it('every load scenario was acked and measured (a figure of 0 means the load never ran)', () => {
    for (const scenario of results.scenarios.filter((s) => s.name !== 'idle')) {
      expect([scenario.name, scenario.service.acks_per_s! > 0, scenario.baseline.acks_per_s! > 0]).toEqual([
        scenario.name,
        true,
        true,
      ]);
    }
  });

  it('reports every target, without asserting whether it is met', () => {
    expect(results.targets.map((t) => t.name)).toEqual(TARGETS);
    for (const t of results.targets) expect(isNumber(t.measured)).toBe(true);
  });

  it('prints the markdown table', () => {
    expect(stdout).toContain('| Scenario | Figure | Service | Baseline | Service / baseline |');
    expect(stdout).toContain('| Target | Scenario | Measured | Limit | Met |');
  });
});
