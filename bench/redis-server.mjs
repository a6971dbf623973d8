// A private, empty redis-server on a free port for scenario 6 (WORKERS=2 with Redis) and the
// SINK=redis-stream row of scenario 7: nothing on disk, nothing shared with a developer's Redis.
// Found as the test suites find it: REDIS_SERVER_PATH, else `redis-server` on the PATH.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** `{ binary }`, or `{ missing }` saying why there is none. */
export function findRedisServer() {
  const configured = process.env.REDIS_SERVER_PATH;
  if (configured) {
    return existsSync(configured)
      ? { binary: configured }
      : { missing: `REDIS_SERVER_PATH=${configured} does not exist` };
  }
  try {
    const binary = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
    if (binary) return { binary };
  } catch {
    // not on the PATH
  }
  return {
    missing:
      'redis-server not found: install it (`apt-get install -y redis-server`) or set REDIS_SERVER_PATH',
  };
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

async function startOn(binary, port) {
  const proc = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    const onData = (chunk) => {
      out = (out + chunk).slice(-8192);
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('error', reject);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) on start:\n${out}`));
    });
  });
  // Keep draining its log so a full pipe never stalls it.
  proc.stdout.resume();
  proc.stderr.resume();
  return {
    pid: proc.pid,
    url: `redis://127.0.0.1:${port}/0`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts redis-server on a free port; a port taken between the probe and the bind is retried. */
export async function startRedis(binary) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(binary, await freePort());
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}
