// The package as published: ESM and CommonJS builds with declarations, no runtime dependencies, the
// browser entry at most 6 KB min+gzip once bundled (esbuild, as an app's bundler would), and a
// consumer project outside the workspace that installs the packed tarball, imports it, requires it
// and type-checks an interface-typed event.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT = 6 * 1024;

describe('@cbsa/client package', () => {
  it('has no runtime dependencies, an optional AsyncStorage peer, and import and require conditions', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.name).toBe('@cbsa/client');
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.peerDependenciesMeta).toEqual({
      '@react-native-async-storage/async-storage': { optional: true },
    });
    expect(pkg.files).toEqual(['dist', 'README.md']);
    expect((pkg.scripts as Record<string, string>).prepack).toBeDefined();
    const entry = (name: string) => ({
      import: { types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` },
      require: { types: `./dist/cjs/${name}.d.ts`, default: `./dist/cjs/${name}.js` },
    });
    expect(pkg.exports).toEqual({
      '.': entry('index'),
      './react-native': entry('react-native'),
      './package.json': './package.json',
    });
  });

  it(`its browser entry is at most ${LIMIT} bytes minified and gzipped`, async () => {
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

  it('a consumer project installs the packed tarball, imports and requires it, and type-checks its events', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbsa-consumer-'));
    try {
      const npm = (args: string[], cwd: string) =>
        execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      // prepack builds dist/ itself.
      const tarball = npm(['pack', '--pack-destination', dir, '--json'], ROOT);
      const [{ filename, files }] = JSON.parse(tarball) as { filename: string; files: { path: string }[] }[];
      const paths = files.map((f) => f.path);
      expect(paths).toEqual(
        expect.arrayContaining(['README.md', 'dist/index.js', 'dist/cjs/index.js', 'dist/react-native.js']),
      );
      writeFileSync(join(dir, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }');
      npm(['install', '--offline', '--no-audit', '--no-fund', `./${filename}`], dir);
      const node = (code: string, type: 'module' | 'commonjs') =>
        execFileSync(process.execPath, ['--input-type=' + type, '-e', code], {
          cwd: dir,
          encoding: 'utf8',
        }).trim();
      expect(
        node(
          `import { CbsaClient, MemoryStorage } from '@cbsa/client'; console.log(typeof CbsaClient, typeof MemoryStorage)`,
          'module',
        ),
      ).toBe('function function');
      expect(
        node(
          `const { CbsaClient } = require('@cbsa/client'); const rn = require('@cbsa/client/react-native'); console.log(typeof CbsaClient, typeof rn.asyncStorageQueue)`,
          'commonjs',
        ),
      ).toBe('function function');
      writeFileSync(
        join(dir, 'app.ts'),
        [
          "import { CbsaClient } from '@cbsa/client';",
          "import { asyncStorageQueue } from '@cbsa/client/react-native';",
          'interface Tap { event_type: "tap"; x: number; y: number }',
          'declare const storage: Parameters<typeof asyncStorageQueue>[0];',
          "const client = new CbsaClient<Tap>({ url: 'ws://localhost/ws/behaviour', storage: asyncStorageQueue(storage) });",
          "const tap: Tap = { event_type: 'tap', x: 1, y: 2 };",
          'export const seq: Promise<number> = client.send(tap);',
          "client.on('tamper', (t) => t.lastSeq.toFixed());",
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'bad.ts'),
        "import { CbsaClient } from '@cbsa/client';\ninterface Tap { x: number }\nvoid new CbsaClient<Tap>({ url: '' }).send({ y: 1 });\n",
      );
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      const check = (file: string) =>
        execFileSync(
          process.execPath,
          [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', file],
          { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
        );
      // app.ts is CommonJS here (the consumer has no "type"), app.mts ESM: both conditions' declarations.
      writeFileSync(join(dir, 'app.mts'), readFileSync(join(dir, 'app.ts')));
      expect(() => check('app.ts')).not.toThrow();
      expect(() => check('app.mts')).not.toThrow();
      // And a wrong event does not compile (the test can fail).
      let output = '';
      try {
        check('bad.ts');
      } catch (error) {
        output = String((error as { stdout: string }).stdout);
      }
      expect(output).toMatch(/bad\.ts.*error TS(2353|2345)/);
      expect(existsSync(join(dir, 'node_modules', '@cbsa', 'client', 'README.md'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
