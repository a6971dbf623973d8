// The Redis Streams engine: a private redis-server (AOF on, appendfsync always, its own temp dir),
// its faults, and its log read back with XRANGE over the whole stream. An empty restart moves the
// old data directory aside instead of deleting it, so the verdict can read what was lost.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Broker, LogEntry } from './log.js';
import { HOST, findBinary, freePort } from './ports.js';

export const findRedisServer = (): string | undefined => findBinary('redis-server', 'REDIS_SERVER_PATH');

const PREFIX = 'chaos:';

export class RedisBroker implements Broker {
  readonly engine = 'redis-stream';
  private proc?: ChildProcess;
  private port = 0;
  private readonly dir = mkdtempSync(join(tmpdir(), 'cbsa-chaos-redis-'));
  /** The old server's data after an empty restart (its AOF: every acked write is in it). */
  private readonly lostDir = `${this.dir}-lost`;
  private lost = false;

  constructor(private readonly binary = findRedisServer()) {
    if (binary === undefined) throw new Error('redis-server not found (apt-get install -y redis-server)');
  }

  get url(): string {
    return `redis://${HOST}:${this.port}/0`;
  }

  serviceEnv(): Record<string, string> {
    return { REDIS_URL: this.url, SINK: 'redis-stream', REDIS_PREFIX: PREFIX };
  }

  async start(): Promise<void> {
    this.port = await freePort();
    await this.spawn();
  }

  async restart({
    keepData,
    signal,
  }: {
    keepData: boolean;
    signal: 'SIGKILL' | 'SIGTERM';
  }): Promise<{ goneAt: number }> {
    await this.kill(signal);
    const goneAt = Date.now();
    if (!keepData) {
      rmSync(this.lostDir, { recursive: true, force: true });
      renameSync(this.dir, this.lostDir);
      this.lost = true;
    }
    await this.spawn();
    return { goneAt };
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async readLog(): Promise<LogEntry[]> {
    return readStream(this.url);
  }

  /** What the old server held when it was killed: a private redis-server loads its AOF. */
  async readLostLog(): Promise<LogEntry[] | undefined> {
    if (!this.lost) return undefined;
    const port = await freePort();
    const proc = await startRedis(this.binary!, port, this.lostDir);
    try {
      return await readStream(`redis://${HOST}:${port}/0`);
    } finally {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    }
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.lostDir, { recursive: true, force: true });
  }

  private async kill(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGCONT');
    proc.kill(signal);
    await exited;
  }

  private async spawn(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.proc = await startRedis(this.binary!, this.port, this.dir);
  }
}

/** The whole stream, in log order. */
async function readStream(url: string): Promise<LogEntry[]> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await client.connect();
  try {
    const entries: LogEntry[] = [];
    let start = '-';
    for (;;) {
      const page = (await client.xrange(`${PREFIX}stream`, start, '+', 'COUNT', 5000)) as [
        string,
        string[],
      ][];
      for (const [position, fields] of page) {
        const f: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
        entries.push({
          position,
          stream: f.stream ?? '',
          seq: f.seq ? Number(f.seq) : 0,
          messageId: Number(f.message_id),
          data: f.data ?? '',
        });
      }
      if (page.length < 5000) return entries;
      start = `(${page[page.length - 1][0]}`;
    }
  } finally {
    client.disconnect();
  }
}

/** A redis-server on `port` with its data in `dir` (loaded from its AOF if there is one). */
async function startRedis(binary: string, port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 15_000);
    const onExit = (code: number | null) => reject(new Error(`redis-server exited (${code}):\n${out}`));
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        out = '';
        resolve();
      }
    });
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', onExit);
  });
  return proc;
}
