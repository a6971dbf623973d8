// The Redis Streams engine: a private redis-server (AOF on, appendfsync always, its own temp dir),
// its faults, and its log read back with XRANGE over the whole stream. An empty restart moves the
// old data directory aside instead of deleting it, so the verdict can read what was lost.
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer } from '../harness/redis-server.mjs';
import type { Broker, LogEntry } from './log.js';

const PREFIX = 'chaos:';

export class RedisBroker implements Broker {
  readonly engine = 'redis-stream';
  private server?: RedisServer;
  private readonly dir = mkdtempSync(join(tmpdir(), 'cbsa-chaos-redis-'));
  /** The old server's data after an empty restart (its AOF: every acked write is in it). */
  private readonly lostDir = `${this.dir}-lost`;
  private lost = false;

  private get running(): RedisServer {
    if (this.server === undefined) throw new Error('the redis broker is not started');
    return this.server;
  }

  serviceEnv(): Record<string, string> {
    return { REDIS_URL: this.running.url, SINK: 'redis-stream', REDIS_PREFIX: PREFIX };
  }

  async start(): Promise<void> {
    this.server = await RedisServer.start({ dataDir: this.dir });
  }

  async restart({
    keepData,
    signal,
  }: {
    keepData: boolean;
    signal: 'SIGKILL' | 'SIGTERM';
  }): Promise<{ goneAt: number }> {
    await this.running.stop(signal);
    const goneAt = Date.now();
    if (!keepData) {
      rmSync(this.lostDir, { recursive: true, force: true });
      renameSync(this.dir, this.lostDir);
      mkdirSync(this.dir);
      this.lost = true;
    }
    await this.running.restart();
    return { goneAt };
  }

  pause(): void {
    this.server?.pause();
  }

  resume(): void {
    this.server?.resume();
  }

  async readLog(): Promise<LogEntry[]> {
    return readStream(this.running.url);
  }

  /** What the old server held when it was killed: a private redis-server loads its AOF. */
  async readLostLog(): Promise<LogEntry[] | undefined> {
    if (!this.lost) return undefined;
    const old = await RedisServer.start({ dataDir: this.lostDir });
    try {
      return await readStream(old.url);
    } finally {
      await old.stop('SIGKILL');
    }
  }

  async stop(): Promise<void> {
    await this.server?.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.lostDir, { recursive: true, force: true });
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
