// A private `nats-server -js` on a free port with a temporary store directory, for the SINK=nats row
// of the modes scenario: nothing shared with a developer's NATS, the store removed afterwards. Found
// as the test suites find it: NATS_SERVER_PATH, else `nats-server` on the PATH.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.mjs';

/** `{ binary }`, or `{ missing }` saying why there is none. */
export function findNatsServer() {
  const configured = process.env.NATS_SERVER_PATH;
  if (configured) {
    return existsSync(configured)
      ? { binary: configured }
      : { missing: `NATS_SERVER_PATH=${configured} does not exist` };
  }
  try {
    const binary = execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
    if (binary) return { binary };
  } catch {
    // not on the PATH
  }
  return {
    missing: 'nats-server not found: install it (`apt-get install -y nats-server`) or set NATS_SERVER_PATH',
  };
}

async function startOn(binary, port) {
  const storeDir = mkdtempSync(join(os.tmpdir(), 'cbsa-bench-nats-'));
  const proc = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${out}`)), 15_000);
      const onData = (chunk) => {
        out = (out + chunk).slice(-8192);
        if (out.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('error', reject);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}) on start:\n${out}`));
      });
    });
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
  // Keep draining its log so a full pipe never stalls it.
  proc.stdout.resume();
  proc.stderr.resume();
  return {
    pid: proc.pid,
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** Starts nats-server -js on a free port; a port taken between the probe and the bind is retried. */
export async function startNats(binary) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(binary, await freePort());
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}
