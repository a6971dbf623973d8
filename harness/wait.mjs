// @ts-check
// Waiting: a plain sleep, polling until a condition holds, and polling until a value is right (with
// the last value in the error, so a failure says what was seen instead of only "timed out").
import { setTimeout as delay } from 'node:timers/promises';

/** @param {number} ms */
export const sleep = (ms) => delay(ms);

/**
 * Polls `condition` every 50 ms until it returns true; throws `what` after `timeout` ms. A condition
 * that throws ends the wait with its error.
 * @param {() => boolean | Promise<boolean>} condition
 * @param {number} [timeout]
 * @param {string} [what]
 */
export async function waitFor(condition, timeout = 10_000, what = 'condition') {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms`);
    await sleep(50);
  }
}

/**
 * Calls `probe` every `every` ms until `ok` accepts its value; fails with the last value after
 * `timeout` ms.
 * @template T
 * @param {() => T | Promise<T>} probe
 * @param {(value: T) => boolean} ok
 * @param {number} [timeout]
 * @param {number} [every]
 * @returns {Promise<T>}
 */
export async function until(probe, ok, timeout = 10_000, every = 100) {
  const deadline = Date.now() + timeout;
  let value = await probe();
  while (!ok(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeout} ms: ${JSON.stringify(value)}`);
    await sleep(every);
    value = await probe();
  }
  return value;
}
