// `npm run chaos [-- --quick] [--only <words>] [--engine <name>] [--repeat <n>]`: every fault of the
// table against production builds and a private broker (each `n` times, to chase a timing-dependent
// finding); prints the table and exits 1 unless every must-be-zero column is 0. A full run (every
// fault of every engine, full size, once) writes its report to docs/chaos/latest.md; any other run
// writes it beside the instance logs, so a partial run never passes for the whole table.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { FULL, QUICK } from './faults.js';
import { ROOT } from '../harness/service.mjs';
import { BROKERS, faultsOf } from './brokers.js';
import { runFault } from './scenario.js';
import { details, report, table } from './table.js';
import { type Row, failures } from './verdict.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1]?.toLowerCase() : undefined;
const engineAt = args.indexOf('--engine');
const repeatAt = args.indexOf('--repeat');
const repeat = repeatAt >= 0 ? Number(args[repeatAt + 1]) : 1;
if (!Number.isSafeInteger(repeat) || repeat < 1) {
  console.error('--repeat takes a positive integer');
  process.exit(2);
}
const engines = engineAt >= 0 ? [args[engineAt + 1]] : Object.keys(BROKERS);
for (const engine of engines) {
  if (BROKERS[engine] === undefined) {
    console.error(`unknown engine ${engine}; known: ${Object.keys(BROKERS).join(', ')}`);
    process.exit(2);
  }
}
const faultsFor = (engine: string) =>
  faultsOf(engine).filter((fault) => only === undefined || fault.name.toLowerCase().includes(only));
const logDir = mkdtempSync(join(tmpdir(), 'cbsa-chaos-'));

console.log(
  `chaos: ${engines.map((e) => `${faultsFor(e).length} faults on ${e}`).join(', ')}, ${quick ? 'quick' : 'full'} size` +
    `${repeat > 1 ? `, ${repeat} times each` : ''}; instance logs in ${logDir}`,
);
const rows: Row[] = [];
for (const engine of engines) {
  for (const fault of faultsFor(engine).flatMap((f) => Array.from({ length: repeat }, () => f))) {
    const started = Date.now();
    const row = await runFault(fault, { size: quick ? QUICK : FULL, broker: BROKERS[engine], logDir });
    rows.push(row);
    const verdict = failures(row);
    const took = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `  [${engine}] ${fault.name}: ${verdict.length === 0 ? 'ok' : verdict.join(', ')} (${took} s)`,
    );
  }
}
console.log(`\n${table(rows)}\n\n${details(rows)}`);
const failed = rows.filter((row) => failures(row).length > 0).length;
console.log(
  failed === 0 ? '\nchaos: every fault held' : `\nchaos: ${failed} of ${rows.length} faults FAILED`,
);
const fullRun = !quick && only === undefined && engineAt < 0 && repeat === 1;
const reportFile = fullRun ? join(ROOT, 'docs', 'chaos', 'latest.md') : join(logDir, 'chaos.md');
mkdirSync(dirname(reportFile), { recursive: true });
const command = ['npm run chaos', ...(args.length > 0 ? ['--', ...args] : [])].join(' ');
writeFileSync(reportFile, report(rows, { command, engines, size: quick ? 'quick' : 'full' }));
console.log(`report: ${fullRun ? relative(process.cwd(), reportFile) : reportFile}`);
process.exit(failed === 0 ? 0 : 1);
