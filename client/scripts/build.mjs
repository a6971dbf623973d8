// Builds dist/: ESM (dist/*.js) and CommonJS (dist/cjs/*.js, with its own package.json) by esbuild,
// one file per source file as tsc would, and the declarations by tsc (both module kinds use them).
// The sources take the service's wire types (types only) from ../src/protocol/; no declaration
// may refer to them, since the package does not ship them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Built beside dist/ and swapped in at the end, so a test reading dist/ meanwhile never finds it empty.
const dist = join(root, `dist.building-${process.pid}`);
const sources = readdirSync(join(root, 'src'))
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  .map((file) => join(root, 'src', file));

rmSync(dist, { recursive: true, force: true });
for (const [format, outdir] of [
  ['esm', dist],
  ['cjs', join(dist, 'cjs')],
]) {
  await build({
    entryPoints: sources,
    outdir,
    format,
    target: 'es2020',
    platform: 'neutral',
    logLevel: 'warning',
  });
}
writeFileSync(join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const types = join(dist, 'types-tmp');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', types], {
  stdio: 'inherit',
});
for (const file of readdirSync(join(types, 'client', 'src'))) {
  const text = readFileSync(join(types, 'client', 'src', file), 'utf8');
  if (text.includes('/protocol/')) throw new Error(`${file} refers to the service's protocol/ types`);
  renameSync(join(types, 'client', 'src', file), join(dist, file));
  cpSync(join(dist, file), join(dist, 'cjs', file));
}
rmSync(types, { recursive: true });
const old = join(root, `dist.old-${process.pid}`);
try {
  renameSync(join(root, 'dist'), old);
} catch {
  // first build
}
renameSync(dist, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
