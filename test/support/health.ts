// Reading GET /health from a test, and waiting for its counts to settle.
import { sleep } from '../../harness/wait.mjs';

export type Health = Record<string, number> & { status?: unknown };

export async function readHealth(base: string): Promise<Health> {
  return (await (await fetch(`${base}/health`)).json()) as Health;
}

/** Polls /health until `predicate` holds; fails with the last reading after `timeout` ms. */
export async function waitForHealth(
  base: string,
  predicate: (health: Health) => boolean,
  timeout = 5000,
): Promise<Health> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const health = await readHealth(base);
    if (predicate(health)) return health;
    if (Date.now() > deadline) throw new Error(`health never matched: ${JSON.stringify(health)}`);
    await sleep(50);
  }
}
