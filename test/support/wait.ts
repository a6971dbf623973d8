// Waiting in tests: a plain sleep, and polling until a condition holds (with the last value in the
// error, so a failure says what was seen instead of only "timed out").
import { setTimeout as delay } from 'node:timers/promises';

export const sleep = (ms: number): Promise<void> => delay(ms);

/** Calls `probe` every `every` ms until `ok` accepts its value; fails with the last value after `timeout` ms. */
export async function until<T>(
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  timeout = 10_000,
  every = 100,
): Promise<T> {
  const deadline = Date.now() + timeout;
  let value = await probe();
  while (!ok(value)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeout} ms: ${JSON.stringify(value)}`);
    await sleep(every);
    value = await probe();
  }
  return value;
}
