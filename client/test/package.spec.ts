// The package as published: ESM + declarations in dist/, no runtime dependencies, at most 6 KB
// min+gzip once bundled (esbuild, as an app's bundler would).
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT = 6 * 1024;

describe('@cbsa/client package', () => {
  it('has no runtime dependencies and points at its ESM build and declarations', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.name).toBe('@cbsa/client');
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.peerDependencies).toBeUndefined();
    expect(pkg.exports).toEqual({ '.': { types: './dist/index.d.ts', import: './dist/index.js' } });
    expect(existsSync(join(ROOT, 'dist', 'index.js'))).toBe(true);
    expect(readFileSync(join(ROOT, 'dist', 'index.d.ts'), 'utf8')).toContain('CbsaClient');
  });

  it(`is at most ${LIMIT} bytes minified and gzipped`, async () => {
    const result = await build({
      entryPoints: [join(ROOT, 'dist', 'index.js')],
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2020',
      platform: 'neutral',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const bundle = result.outputFiles[0].contents;
    // Nothing bundled from outside the package: the bundle is the package.
    expect(Object.keys(result.metafile.inputs).filter((file) => !file.includes('client/dist/'))).toEqual([]);
    const size = gzipSync(bundle, { level: 9 }).length;
    console.log(`@cbsa/client: ${bundle.length} B minified, ${size} B min+gzip (limit ${LIMIT})`);
    expect(size).toBeLessThanOrEqual(LIMIT);
  });
});
