// Where the package lives, found from this file whether it runs from source (Jest) or compiled
// into dist/chaos (npm run chaos).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function packageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) || existsSync(join(dir, 'tsconfig.chaos.json')) === false) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package root above ${import.meta.dirname}`);
    dir = parent;
  }
  return dir;
}

export const ROOT = packageRoot();
export const MAIN = join(ROOT, 'dist', 'main.js');
