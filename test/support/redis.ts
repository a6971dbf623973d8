// Redis suites need a redis-server (harness/redis-server.mjs starts a private one per suite). Without
// the binary they are skipped locally (with how to install it) and fail under CI=true.
import { REDIS_SERVER } from '../../harness/redis-server.mjs';

const INSTALL_HINT =
  'redis-server not found: install it with `apt-get install -y redis-server` (or set REDIS_SERVER_PATH)';

/** `describe` when redis-server exists; otherwise a skip (locally) or a failing test (under CI). */
export function describeWithRedis(name: string, body: () => void): void {
  if (REDIS_SERVER !== undefined) return describe(name, body);
  if (process.env.CI) {
    return describe(name, () =>
      it('needs redis-server', () => {
        throw new Error(INSTALL_HINT);
      }),
    );
  }
  console.warn(`Skipping "${name}": ${INSTALL_HINT}`);
  describe.skip(name, body);
}

/** `it` when redis-server exists; otherwise a skip (locally) or a failing test (under CI), as above. */
export function itWithRedis(name: string, fn: () => Promise<void>, timeout?: number): void {
  if (REDIS_SERVER !== undefined) return it(name, fn, timeout);
  if (process.env.CI) {
    return it(name, () => {
      throw new Error(INSTALL_HINT);
    });
  }
  console.warn(`Skipping "${name}": ${INSTALL_HINT}`);
  it.skip(name, fn, timeout);
}
