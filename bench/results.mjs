// Where a run's figures go. A measured run updates docs/benchmarks/latest.json, one part per kind of
// run (git keeps the history): `all` for a full run, `scenarios=1,7` for `--scenarios=1,7`,
// `connections` (or `connections, WORKERS=6`), `monitor-cost` and `auth-connect` for those scenarios alone. A full
// run replaces every part it measures again. A --quick run's figures mean nothing, so they go to
// bench/results/quick.json (git-ignored) and leave the docs alone.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { QUICK, RESULTS_DIR, ROOT } from './settings.mjs';

export const LATEST_FILE = join(ROOT, 'docs', 'benchmarks', 'latest.json');

/** Parts a full run measures again (it keeps only the cluster's connections figures). */
const supersededByAll = (part) =>
  part === 'all' ||
  part.startsWith('scenarios=') ||
  part === 'connections' ||
  part === 'monitor-cost' ||
  part === 'auth-connect';

/** Stores `record` as `part` and returns the file's path relative to the working directory. */
export function saveResults(part, record) {
  let file;
  if (QUICK) {
    file = join(RESULTS_DIR, 'quick.json');
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  } else {
    file = LATEST_FILE;
    const parts = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
    if (part === 'all') for (const key of Object.keys(parts)) if (supersededByAll(key)) delete parts[key];
    parts[part] = record;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(parts, null, 2) + '\n');
  }
  return relative(process.cwd(), file);
}
