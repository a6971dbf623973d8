// One service instance from the production build (dist/main.js) as a child process on a fixed
// port, so clients find it again after it is killed and restarted. Its log goes to a file.
import { type ChildProcess, spawn } from 'node:child_process';
import { type WriteStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { MAIN, ROOT } from './paths.js';
import { HOST, freePort, until } from './ports.js';

export class Instance {
  private proc?: ChildProcess;
  private log?: WriteStream;
  private tail = '';
  private starts = 0;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {}

  static async start(name: string, env: Record<string, string>, logDir: string): Promise<Instance> {
    const instance = new Instance(name, await freePort(), env, logDir);
    await instance.restart();
    return instance;
  }

  get url(): string {
    return `ws://${HOST}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get logFile(): string {
    return join(this.logDir, `${this.name}.log`);
  }

  /** The last lines the process wrote (stdout and stderr), for failure reports. */
  get recentOutput(): string {
    return this.tail;
  }

  /** Starts the process (again, after a kill) and waits until /health/ready answers 200. */
  async restart(): Promise<void> {
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    this.starts++;
    const proc = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOST,
        PORT: String(this.port),
        LOG_LEVEL: 'WARNING',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.log!.write(d);
      this.tail = (this.tail + d.toString()).slice(-8000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.log.write(`--- start ${this.starts} pid ${proc.pid} at ${new Date().toISOString()}\n`);
    await this.waitReady();
  }

  /** Generous: on a shared 2-core machine a cold start of two workers can take half a minute. */
  async waitReady(timeout = 90_000): Promise<void> {
    const proc = this.proc!;
    await until(
      async () => {
        if (proc.exitCode !== null) throw new Error(`${this.name} exited (${proc.exitCode}):\n${this.tail}`);
        return (await this.readyStatus()) === 200;
      },
      `${this.name} ready`,
      timeout,
    );
  }

  async readyStatus(): Promise<number> {
    try {
      const res = await fetch(`http://${HOST}:${this.port}/health/ready`, {
        signal: AbortSignal.timeout(2000),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals, timeout = 30_000): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit on ${signal}`)), timeout);
    });
    try {
      await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** With WORKERS > 1: the pids of the worker processes (children of this process), from /proc. */
  async workerPids(): Promise<number[]> {
    const { readFile } = await import('node:fs/promises');
    const children = await readFile(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8');
    return children.split(/\s+/).filter(Boolean).map(Number);
  }

  /**
   * With WORKERS > 1: the worker that holds the most client connections on this port, from /proc
   * (the established sockets of the port, matched by inode to each worker's open files). A worker
   * chosen blindly may hold none when the clients connected before the second worker listened.
   */
  async busiestWorker(): Promise<number> {
    const { readFile, readdir, readlink } = await import('node:fs/promises');
    const established = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const text = await readFile(table, 'utf8').catch(() => '');
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10) continue;
        const localPort = parseInt(cols[1].split(':').pop()!, 16);
        if (localPort === this.port && cols[3] === '01') established.add(cols[9]);
      }
    }
    let best = { pid: 0, count: -1 };
    for (const pid of await this.workerPids()) {
      let count = 0;
      for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
        const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode !== undefined && established.has(inode)) count++;
      }
      if (count > best.count) best = { pid, count };
    }
    if (best.pid === 0) throw new Error(`${this.name} has no workers`);
    return best.pid;
  }

  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    try {
      await this.kill(signal, 20_000);
    } catch {
      await this.kill('SIGKILL');
    }
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
    this.log = undefined;
  }
}
