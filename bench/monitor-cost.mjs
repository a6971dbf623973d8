// Scenario `monitor-cost` (`npm run bench -- --scenario monitor-cost`,
// also in the full and --quick runs): what watching costs at a fixed ingest rate of 20,000 events/s.
// Server CPU per ack with 0 monitors, 1 and 100 monitors asking ?sample=300, and 1 full-stream
// monitor, as ratios to the 0-monitor runs; and the monitor page itself in Chromium (playwright-core)
// with its default sampling: the share of wall time in long tasks (PerformanceObserver 'longtask'),
// frames rendered per second, and whether the flow graph's counts equal the server's afterwards.
// Configurations alternate within each repetition (A B C D E A B C D E), fresh server per run.
// instrument() and the page.evaluate callbacks run in the browser:
/* global window, requestAnimationFrame */
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { cpuSeconds, machineBusySeconds, ownCpuSeconds, startServer } from './server.mjs';
import { BENCH_DIR, QUICK, TARGETS } from './settings.mjs';

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

const LOAD = join(BENCH_DIR, 'monitor-cost-load.mjs');
export const RATE = Number(option('monitor-rate') ?? 20_000);
const INGEST_WORKERS = 2;
const CONNECTIONS = 50;
const SAMPLE = 300;
const RUN = QUICK
  ? { reps: 1, warmupS: 0.3, measureS: 1, pageSettleS: 1 }
  : { reps: Number(option('reps') ?? 3), warmupS: 2, measureS: 5, pageSettleS: 2 };
/** The goals: 100 sampled monitors cost at most 10 % more CPU per ack; the page under 10 % long tasks. */
export const GOALS = { sampled100CpuRatio: 1.1, pageLongTaskShare: 0.1 };

export const CONFIGS = [
  { id: 'none', title: '0 monitors' },
  { id: 'sampled-1', title: `1 monitor, ?sample=${SAMPLE}`, monitors: 1, query: `?sample=${SAMPLE}` },
  { id: 'sampled-100', title: `100 monitors, ?sample=${SAMPLE}`, monitors: 100, query: `?sample=${SAMPLE}` },
  { id: 'full-1', title: '1 monitor, full stream', monitors: 1, query: '' },
  { id: 'page', title: 'the monitor page in Chromium (default sampling)', page: true },
];
// `--configs=page,none`: only these configurations (ids above), e.g. to measure the page alone.
const ONLY = option('configs')?.split(',');
// `--profile`: also record where the page's main thread spends its time in the measured window
// (Chromium's Performance.getMetrics and a CPU profile's top functions by self time).
const PROFILE = args.includes('--profile');

class LoadThread {
  constructor(data) {
    this.worker = new Worker(LOAD, { workerData: data });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.ready = this.next('ready');
  }

  next(type) {
    return new Promise((resolve, reject) => {
      const onMessage = (msg) => {
        if (msg.type === 'failed') reject(new Error(`monitor-cost load: ${msg.error}`));
        else if (msg.type !== type) return;
        else resolve(msg);
        this.worker.off('message', onMessage);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
  }

  send(cmd) {
    this.worker.postMessage({ cmd });
  }

  async stop() {
    this.send('stop');
    await this.exited;
  }
}

// --- the page --------------------------------------------------------------------------------------

function findChromium() {
  const names = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];
  const candidates = process.env.CHROMIUM_PATH
    ? [process.env.CHROMIUM_PATH]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .flatMap((dir) => names.map((n) => join(dir, n)));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Installed before the page's own scripts: long tasks and animation frames, with their times. */
function instrument() {
  window.__bench = { longTasks: [], frames: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__bench.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
  const frame = () => {
    window.__bench.frames++;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

async function openPage(browser, server) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.addInitScript(instrument);
  await page.goto(server.url.replace('ws:', 'http:') + '/', { waitUntil: 'load' });
  await page.waitForSelector('[data-testid="feed-mode"][data-mode="sample"]', { timeout: 15_000 });
  await page.waitForSelector('[data-testid="flow-node"]', { timeout: 15_000 });
  return page;
}

const pageMark = (page) => page.evaluate(() => ({ at: performance.now(), frames: window.__bench.frames }));

/** Long-task time inside [from, to] (ms of page time), clipped at the window's edges. */
const longTaskMs = (page, from, to) =>
  page.evaluate(
    ([a, b]) =>
      window.__bench.longTasks.reduce(
        (sum, [start, duration]) => sum + Math.max(0, Math.min(b, start + duration) - Math.max(a, start)),
        0,
      ),
    [from, to],
  );

/**
 * Where the page's main thread spends its time from now until stop(): Chromium's own task, script,
 * style and layout durations (Performance.getMetrics) as shares of wall time, and the functions of
 * a CPU profile with the most self time.
 */
async function startProfile(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () =>
    Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const m0 = await metrics();
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
  await cdp.send('Profiler.start');
  const traceEvents = [];
  cdp.on('Tracing.dataCollected', ({ value }) => traceEvents.push(...value));
  await cdp.send('Tracing.start', {
    categories:
      'devtools.timeline,disabled-by-default-devtools.timeline,' +
      'disabled-by-default-devtools.timeline.invalidationTracking',
    transferMode: 'ReportEvents',
  });
  const renderers = () =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
        } catch {
          return false;
        }
      });
  const rendererCpu = (pids) =>
    pids.reduce((sum, pid) => {
      try {
        return sum + cpuSeconds(Number(pid));
      } catch {
        return sum;
      }
    }, 0);
  const pids = renderers();
  const cpu0 = rendererCpu(pids);
  const t0 = performance.now();
  return {
    async stop() {
      const traced = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
      await cdp.send('Tracing.end');
      await traced;
      const main = traceEvents.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
      const byName = new Map();
      const counts = new Map();
      const invalidations = new Map();
      for (const e of traceEvents) {
        if (e.name.endsWith('InvalidationTracking')) {
          const d = e.args?.data ?? {};
          const at = d.stackTrace?.[0];
          const key = `${e.name} ${d.reason ?? ''} ${d.nodeName ?? ''} ${at ? `${at.functionName} ${at.url.split('/').pop()}:${at.lineNumber}` : ''}`;
          invalidations.set(key, (invalidations.get(key) ?? 0) + 1);
          continue;
        }
        if (e.ph !== 'X' || !main || e.pid !== main.pid || e.tid !== main.tid) continue;
        byName.set(e.name, (byName.get(e.name) ?? 0) + (e.dur ?? 0));
        counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
      }
      const { profile } = await cdp.send('Profiler.stop');
      const m1 = await metrics();
      const wallS = (performance.now() - t0) / 1000;
      // CPU the renderer processes got (all their threads), against the wall-clock task time above.
      const shares = { RendererCpu: Number(((rendererCpu(pids) - cpu0) / wallS).toFixed(3)) };
      for (const key of ['TaskDuration', 'ScriptDuration', 'RecalcStyleDuration', 'LayoutDuration']) {
        shares[key] = Number(((m1[key] - m0[key]) / wallS).toFixed(3));
      }
      shares.Layouts = m1.LayoutCount - m0.LayoutCount;
      shares.StyleRecalcs = m1.RecalcStyleCount - m0.RecalcStyleCount;
      const self = new Map();
      const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
      const dt = profile.timeDeltas;
      profile.samples.forEach((id, k) => {
        const f = nodes.get(id).callFrame;
        const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-1)[0]}:${f.lineNumber + 1}`;
        self.set(name, (self.get(name) ?? 0) + (dt[k + 1] ?? 0));
      });
      const totalUs = profile.endTime - profile.startTime;
      const top = [...self.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 25)
        .map(([name, us]) => `${((us / totalUs) * 100).toFixed(1).padStart(5)} %  ${name}`);
      await cdp.detach();
      const traceTop = [...byName.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 20)
        .map(
          ([name, us]) =>
            `${((us / 1e6 / wallS) * 100).toFixed(1).padStart(5)} %  trace ${name} ` +
            `(${(counts.get(name) / wallS).toFixed(0)}/s)`,
        );
      const invalidationTop = [...invalidations.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([key, n]) => `${(n / wallS).toFixed(0).padStart(5)}/s  ${key}`);
      return { shares, top: [...traceTop.slice(0, 10), ...invalidationTop, ...top.slice(0, 12)] };
    },
  };
}

/** The server's exact per-node counts, from the hello of a fresh monitor socket. */
function serverNodes(server) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url}/ws/monitor?filter=client:none`);
    ws.once('message', (data) => {
      ws.terminate();
      resolve(JSON.parse(data.toString()).nodes);
    });
    ws.once('error', reject);
  });
}

const pageNodes = (page) =>
  page.$$eval('[data-testid="flow-node"]', (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.getAttribute('data-node-id') ?? '',
        Number(el.querySelector('[data-testid="node-count"]')?.getAttribute('data-count')),
      ]),
    ),
  );

/** After the load stops: do the graph's counts reach the server's exact ones (stats every second)? */
async function graphExact(page, server) {
  const want = await serverNodes(server);
  const deadline = Date.now() + 5000;
  let got = {};
  while (Date.now() < deadline) {
    got = await pageNodes(page);
    if (Object.entries(want).every(([id, n]) => got[id] === n)) return { exact: true, acked: want.ack };
    await sleep(250);
  }
  return { exact: false, acked: want.ack, page_acked: got.ack };
}

// --- one run -----------------------------------------------------------------------------------------

async function runConfig(config, browser) {
  const server = await startServer(TARGETS.service);
  const threads = [];
  let page;
  try {
    let monitors;
    if (config.monitors) {
      monitors = new LoadThread({
        role: 'monitors',
        url: server.url,
        connections: config.monitors,
        query: config.query,
      });
      threads.push(monitors);
      await monitors.ready;
    }
    if (config.page) page = await openPage(browser, server);
    const ingest = Array.from(
      { length: INGEST_WORKERS },
      (_, index) =>
        new LoadThread({
          role: 'paced',
          url: server.url,
          connections: CONNECTIONS / INGEST_WORKERS,
          rate: RATE / INGEST_WORKERS,
          index,
        }),
    );
    threads.push(...ingest);
    await Promise.all(ingest.map((t) => t.ready));
    await sleep(RUN.warmupS * 1000);

    server.assertAlive();
    const cpu0 = cpuSeconds(server.pid);
    const own0 = ownCpuSeconds();
    const busy0 = machineBusySeconds();
    const mark0 = page && (await pageMark(page));
    const profiler = page && PROFILE ? await startProfile(page) : undefined;
    const t0 = performance.now();
    for (const t of threads) t.send('measure');
    await sleep(RUN.measureS * 1000);
    const reports = threads.map((t) => t.next('report'));
    for (const t of threads) t.send('report');
    const mark1 = page && (await pageMark(page));
    const profile = profiler && (await profiler.stop());
    const cpu = cpuSeconds(server.pid) - cpu0;
    const own = ownCpuSeconds() - own0;
    const busy = machineBusySeconds() - busy0;
    const seconds = (performance.now() - t0) / 1000;
    server.assertAlive();
    const done = await Promise.all(reports);
    const ingestReports = done.slice(monitors ? 1 : 0);
    const acksPerS = ingestReports.reduce((s, r) => s + r.acks / r.seconds, 0);
    const figures = {
      acks_per_s: acksPerS,
      sent_per_s: ingestReports.reduce((s, r) => s + r.sent / r.seconds, 0),
      // Frames the schedule wanted but every connection already had 64 unacked: the server fell behind.
      behind: ingestReports.reduce((s, r) => s + r.behind, 0),
      error_replies: ingestReports.reduce((s, r) => s + r.errors, 0),
      cpu_s_per_100k: acksPerS > 0 ? (cpu / (acksPerS * seconds)) * 100_000 : null,
      cpu_utilisation: cpu / seconds,
      // Cores busy outside the server: the load generator (this process) and everything else
      // (Chromium in the page runs, other jobs on the machine).
      load_generator_cpu: own / seconds,
      other_cpu: Math.max(0, (busy - cpu - own) / seconds),
    };
    if (monitors) {
      const list = done[0].monitors;
      const s = done[0].seconds;
      const mean = (f) => list.reduce((sum, m) => sum + f(m), 0) / list.length;
      figures.monitor_events_per_s = mean((m) => m.events / s);
      figures.monitor_events_per_s_max = Math.max(...list.map((m) => m.events / s));
      figures.monitor_frames_per_s = mean((m) => m.frames / s);
      if (config.query.includes('sample')) figures.sampled_from_per_s = mean((m) => m.sampledFrom / s);
    }
    if (page) {
      const wallMs = mark1.at - mark0.at;
      figures.page_long_task_share = (await longTaskMs(page, mark0.at, mark1.at)) / wallMs;
      figures.page_frames_per_s = ((mark1.frames - mark0.frames) / wallMs) * 1000;
      if (profile) {
        // Shares of wall time, and the top functions, printed per run (not part of the medians).
        console.error(`monitor-cost page profile: ${JSON.stringify(profile.shares)}`);
        for (const line of profile.top) console.error(`  ${line}`);
      }
      figures.page_sample = Number(
        /(\d+)/.exec((await page.textContent('[data-testid="feed-mode"]')) ?? '')?.[1] ?? NaN,
      );
    }
    await Promise.all(threads.splice(0).map((t) => t.stop()));
    if (page) {
      await sleep(RUN.pageSettleS * 1000);
      const graph = await graphExact(page, server);
      figures.page_graph_exact = graph.exact ? 1 : 0;
      figures.page_graph_acked = graph.acked;
    }
    return figures;
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
    await page?.close();
    await server.stop();
  }
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Every configuration, alternated per repetition; medians, ranges and ratios to 0 monitors. */
export async function runMonitorCost() {
  const chromiumPath = findChromium();
  let browser;
  let pageSkipped;
  if (chromiumPath) {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
      ],
    });
  } else {
    pageSkipped = 'no Chromium found (install chromium or set CHROMIUM_PATH)';
  }
  const runs = new Map(CONFIGS.map((c) => [c.id, []]));
  try {
    for (let rep = 1; rep <= RUN.reps; rep++) {
      for (const config of CONFIGS) {
        if ((config.page && !browser) || (ONLY && !ONLY.includes(config.id))) continue;
        const t = performance.now();
        const figures = await runConfig(config, browser);
        runs.get(config.id).push(figures);
        const extra =
          figures.page_long_task_share !== undefined
            ? `, long tasks ${(figures.page_long_task_share * 100).toFixed(1)} %`
            : '';
        console.error(
          `monitor-cost ${config.id} rep ${rep}: ${Math.round(figures.acks_per_s)} acks/s, ` +
            `${figures.cpu_s_per_100k?.toFixed(2)} CPU s/100k${extra} ` +
            `(${((performance.now() - t) / 1000).toFixed(1)} s)`,
        );
      }
    }
  } finally {
    await browser?.close();
  }
  const rows = CONFIGS.map(({ id, title }) => {
    const list = runs.get(id);
    const keys = [...new Set(list.flatMap((r) => Object.keys(r)))];
    const med = {};
    const range = {};
    for (const key of keys) {
      const values = list.map((r) => r[key]).filter((x) => typeof x === 'number' && Number.isFinite(x));
      med[key] = median(values);
      range[key] = values.length ? [Math.min(...values), Math.max(...values)] : null;
    }
    return {
      id,
      title,
      median: med,
      range,
      runs: list,
      ...(id === 'page' && pageSkipped && { skipped: pageSkipped }),
    };
  });
  const base = rows[0].median.cpu_s_per_100k;
  for (const row of rows) {
    row.cpu_ratio = base && row.median.cpu_s_per_100k ? row.median.cpu_s_per_100k / base : null;
  }
  const sampled100 = rows.find((r) => r.id === 'sampled-100');
  const page = rows.find((r) => r.id === 'page');
  const goals = [
    {
      name: '100 sampled monitors: CPU per ack over none',
      measured: sampled100.cpu_ratio,
      limit: `≤ ${GOALS.sampled100CpuRatio}`,
      met: sampled100.cpu_ratio === null ? null : sampled100.cpu_ratio <= GOALS.sampled100CpuRatio,
    },
    {
      name: 'Page long tasks (share of wall time)',
      measured: page.median.page_long_task_share ?? null,
      limit: `< ${GOALS.pageLongTaskShare}`,
      met:
        page.median.page_long_task_share == null
          ? null
          : page.median.page_long_task_share < GOALS.pageLongTaskShare,
    },
    {
      name: 'Page graph counts exact after the load',
      measured: page.runs.length
        ? page.runs.filter((r) => r.page_graph_exact === 1).length / page.runs.length
        : null,
      limit: 'every run',
      met: page.runs.length ? page.runs.every((r) => r.page_graph_exact === 1) : null,
    },
  ];
  return {
    rate: RATE,
    sample: SAMPLE,
    connections: CONNECTIONS,
    reps: RUN.reps,
    warmup_s: RUN.warmupS,
    measure_s: RUN.measureS,
    rows,
    goals,
  };
}

const n0 = (x) => (x == null ? '–' : Math.round(x).toLocaleString('en-US'));
const n2 = (x) => (x == null ? '–' : x.toFixed(2));
const pct = (x) => (x == null ? '–' : `${(x * 100).toFixed(1)} %`);
const withRange = (row, key, f) =>
  row.range?.[key] && row.runs.length > 1
    ? `${f(row.median[key])} (${f(row.range[key][0])}–${f(row.range[key][1])})`
    : f(row.median[key]);

export function monitorCostMarkdown(result) {
  const lines = [
    `Monitor cost at ${n0(result.rate)} events/s offered (${result.connections} paced connections), ` +
      `median of ${result.reps}, ${result.measure_s} s measured each:`,
    '',
    '| Configuration | acks/s | server CPU s / 100k acks | × 0 monitors | events / monitor / s | sampled_from / s | page long tasks | page frames/s | server cores | other cores |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of result.rows) {
    if (row.runs.length === 0 && !row.skipped) continue;
    if (row.skipped) {
      lines.push(`| ${row.title} | skipped: ${row.skipped} | | | | | | | | |`);
      continue;
    }
    const m = row.median;
    lines.push(
      `| ${row.title} | ${withRange(row, 'acks_per_s', n0)} | ${withRange(row, 'cpu_s_per_100k', n2)} | ` +
        `${n2(row.cpu_ratio)} | ${m.monitor_events_per_s === undefined ? '' : n0(m.monitor_events_per_s)} | ` +
        `${m.sampled_from_per_s === undefined ? '' : n0(m.sampled_from_per_s)} | ` +
        `${m.page_long_task_share === undefined ? '' : withRange(row, 'page_long_task_share', pct)} | ` +
        `${m.page_frames_per_s === undefined ? '' : n0(m.page_frames_per_s)} | ` +
        `${n2(m.cpu_utilisation)} | ${n2(m.other_cpu)} |`,
    );
  }
  lines.push('', '| Goal | Measured | Limit | Met |', '| --- | ---: | ---: | --- |');
  for (const g of result.goals) {
    const measured = g.name.startsWith('Page long') ? pct(g.measured) : n2(g.measured);
    lines.push(
      `| ${g.name} | ${measured} | ${g.limit} | ${g.met === null ? 'n/a' : g.met ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}
