// Reading GET /health from a test, and waiting for its counts to settle.
import { until } from '../../harness/wait.mjs';

export type Health = Record<string, number> & { status?: unknown };

export async function readHealth(base: string): Promise<Health> {
  return (await (await fetch(`${base}/health`)).json()) as Health;
}

/** Polls /health until `predicate` holds; fails with the last reading after `timeout` ms. */
export function waitForHealth(
  base: string,
  predicate: (health: Health) => boolean,
  timeout = 5000,
): Promise<Health> {
  return until(() => readHealth(base), predicate, timeout, 50);
}
