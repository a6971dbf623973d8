// What the private brokers of the bench (redis-server.mjs, nats-server.mjs) share: finding the
// binary, a free port, and a process started until it logs that it is ready, stopped gently.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** `{ binary }` from `envVar` or the PATH, or `{ missing }` saying why there is none. */
export function findBinary(name, envVar) {
  const configured = process.env[envVar];
  if (configured) {
    return existsSync(configured)
      ? { binary: configured }
      : { missing: `${envVar}=${configured} does not exist` };
  }
  try {
    const binary = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    if (binary) return { binary };
  } catch {
    // not on the PATH
  }
  return { missing: `${name} not found: install it (\`apt-get install -y ${name}\`) or set ${envVar}` };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `binary args` and resolves once its output contains `readyLine`; rejects (the process
 * killed) when it exits first or takes longer than `timeoutMs`. Returns `{ proc, stop }`, where
 * stop() sends SIGTERM, then SIGKILL after 5 s.
 */
export async function startProcess(name, binary, args, readyLine, timeoutMs) {
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${out}`)), timeoutMs);
      const onData = (chunk) => {
        out = (out + chunk).slice(-8192);
        if (out.includes(readyLine)) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('error', reject);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) on start:\n${out}`));
      });
    });
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  // Keep draining its log so a full pipe never stalls it.
  proc.stdout.resume();
  proc.stderr.resume();
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Calls `start(port)` on a free port; a port taken between the probe and the bind is retried. */
export async function onFreePort(start) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}
