// The production build (dist/main.js) as a child process, with its JSON log lines at hand.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/config/env.js';
import { sleep } from './wait.js';

export const MAIN = join(PACKAGE_ROOT, 'dist', 'main.js');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Every Service of this test file still running; killed after the file, whatever its tests did. */
const running = new Set<Service>();

afterAll(async () => {
  await Promise.all(
    [...running].map((service) => {
      service.proc.kill('SIGKILL');
      return service.exited;
    }),
  );
});

export class Service {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  /** `launcher` runs the service through another command, such as `['prlimit', '--nofile=300']`. */
  constructor(env: Record<string, string>, cwd = PACKAGE_ROOT, launcher: string[] = []) {
    const [command, ...args] = [...launcher, process.execPath, MAIN];
    this.proc = spawn(command, args, {
      cwd,
      // MONITOR_REPLAY off unless asked for, as in startApp.
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', MONITOR_REPLAY: '0', ...env },
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    // A test that failed before stop() must not leave the process (and its pipes) holding Jest open.
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  lines(): LogLine[] {
    return this.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);
  }

  async waitForLine(predicate: (line: LogLine) => boolean, timeout = 15_000): Promise<LogLine> {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const line = this.lines().find(predicate);
      if (line) return line;
      await sleep(50);
    }
    throw new Error(`no such log line; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
  }

  async port(): Promise<number> {
    // Generous: on a busy machine (CI, shared cores) a Nest boot can take many seconds.
    const line = await this.waitForLine((l) => / listening on /.test(l.msg), 60_000);
    return Number(/:(\d+) /.exec(line.msg)![1]);
  }

  /** Resident memory of the process in MiB, from /proc. */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGTERM');
    await this.exited;
  }
}
