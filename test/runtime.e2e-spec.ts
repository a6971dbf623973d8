// npm scripts run on the Node from the `node` devDependency (Node 24 LTS), whatever Node the machine
// has: node_modules/.bin comes first on a script's PATH. This suite runs under `npm test`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/env.js';

describe('Runtime (e2e)', () => {
  it('runs on the Node major named in .nvmrc, which the engines range admits', () => {
    const wanted = Number(readFileSync(join(PACKAGE_ROOT, '.nvmrc'), 'utf8').trim());
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
      devDependencies: Record<string, string>;
    };
    const [major, minor] = process.versions.node.split('.').map(Number);
    expect({ major, engines: pkg.engines.node }).toEqual({ major: wanted, engines: '>=22.12' });
    expect(major > 22 || (major === 22 && minor >= 12)).toBe(true);
    expect(pkg.devDependencies.node).toMatch(new RegExp(`^[~^]?${wanted}\\.`));
  });
});
