// Free TCP ports on the loopback (all chaos traffic stays on 127.0.0.x), and the broker binaries.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns true; throws `what` after `timeout` ms. */
export async function until(
  probe: () => Promise<boolean> | boolean,
  what: string,
  timeout = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms`);
    await sleep(50);
  }
}

/** A broker binary: `envVar` when set, else `name` on the PATH; undefined when there is none. */
export function findBinary(name: string, envVar: string): string | undefined {
  if (process.env[envVar]) return process.env[envVar];
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
