// A private redis-server per test file, on a free port, so suites never share state. Without the
// binary the Redis suites are skipped locally (with how to install it) and fail under CI=true.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

function findRedis(): string | undefined {
  if (process.env.REDIS_SERVER_PATH) return process.env.REDIS_SERVER_PATH;
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const REDIS_SERVER = findRedis();
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  private proc?: ChildProcess;

  private constructor(
    readonly port: number,
    /** With a directory: AOF on (appendfsync always), so a restart keeps the data. */
    private readonly dataDir?: string,
  ) {}

  static async start(port?: number, dataDir?: string): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()), dataDir);
    await server.restart();
    return server;
  }

  /** SIGSTOP: the server stops answering, its sockets stay open (a stalled Redis). */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** (Re)starts the server on the same port: empty, unless it has a data directory (AOF). */
  async restart(): Promise<void> {
    const persistence =
      this.dataDir === undefined
        ? ['--appendonly', 'no']
        : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dataDir];
    const proc = spawn(
      REDIS_SERVER!,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }
}
