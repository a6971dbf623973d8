// The SDK's write-ahead promise against a real kill: a child Node process on a file storage sends
// events, awaiting each send(), and is SIGKILLed at random moments (often 0–10 ms after a send()
// began), online and offline, 32 times; then it is started once more to deliver what is left, and
// the whole Redis Stream is read back. Every event whose send() resolved is stored exactly once at
// the seq it was given, no seq is on two events, and every "resumed" ack is for the event stored.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../harness/process.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { CLIENT_DIST, readLog } from './support/sdk.js';
import { Service } from '../harness/service.mjs';

const CHILD = join(import.meta.dirname, 'support', 'sdk-kill-child.mjs');
const KILLS = 32;

interface Life {
  lines: string[];
  exited: Promise<void>;
  proc: ChildProcess;
}

function startChild(
  file: string,
  url: string,
  mode: 'send' | 'drain',
  run: string,
  onLine?: (line: string) => void,
): Life {
  const proc = spawn(
    process.execPath,
    [CHILD, pathToFileURL(join(CLIENT_DIST, 'index.js')).href, file, url, mode, run],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let rest = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      onLine?.(line);
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { lines, exited, proc };
}

describeWithRedis('@cbsa/client killed at random moments (e2e)', () => {
  let redis: RedisServer;
  let service: Service;
  let dir: string;

  beforeAll(async () => {
    redis = await RedisServer.start();
    service = new Service({ SINK: 'redis-stream', REDIS_URL: redis.url });
    await service.waitForLine((l) => / listening on /.test(l.msg), 60_000);
    dir = mkdtempSync(join(tmpdir(), 'cbsa-kill-'));
  }, 90_000);

  afterAll(async () => {
    await service?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`every resolved event is stored once, through ${KILLS} kills, online and offline`, async () => {
    const file = join(dir, 'queue.json');
    const online = `ws://127.0.0.1:${await service.port()}/ws/behaviour`;
    const offline = `ws://127.0.0.1:${await freePort()}/ws/behaviour`; // nothing listens
    const lives: Life[] = [];
    let soonAfterSend = 0;
    for (let run = 0; run < KILLS; run++) {
      const url = run % 2 === 0 ? online : offline;
      // Half the lives die 0–10 ms after the k-th send() began; the others at any moment.
      const afterBegin = run % 4 < 2 ? 1 + Math.floor(Math.random() * 15) : undefined;
      let begins = 0;
      let timer: NodeJS.Timeout | undefined;
      const life = startChild(file, url, 'send', `r${run}`, (line) => {
        if (afterBegin !== undefined && line.startsWith('begin ') && ++begins === afterBegin) {
          timer = setTimeout(() => life.proc.kill('SIGKILL'), Math.random() * 10);
        }
      });
      if (afterBegin === undefined)
        timer = setTimeout(() => life.proc.kill('SIGKILL'), 50 + Math.random() * 300);
      // A life that sends more slowly than expected is killed anyway.
      const bound = setTimeout(() => life.proc.kill('SIGKILL'), 5_000);
      await life.exited;
      clearTimeout(timer);
      clearTimeout(bound);
      if (afterBegin !== undefined && begins >= afterBegin) soonAfterSend++;
      lives.push(life);
    }
    const last = startChild(file, online, 'drain', 'final');
    await last.exited;
    expect(last.lines).toContain('flushed true');
    lives.push(last);

    // A life killed before its first write leaves no trace (its stream id was neither stored nor
    // sent); from the first resolved send() on, every start takes the one stored stream over.
    const firstWrite = lives.findIndex((l) => l.lines.some((x) => x.startsWith('resolved ')));
    const streams = new Set(
      lives
        .slice(firstWrite)
        .flatMap((l) => l.lines.filter((x) => x.startsWith('stream ')).map((x) => x.slice(7))),
    );
    const resolved = new Map<string, number>();
    const resumed: number[] = [];
    for (const life of lives) {
      for (const line of life.lines) {
        const [kind, a, b] = line.split(' ');
        if (kind === 'resolved') resolved.set(a, Number(b));
        if (kind === 'ack' && b === 'resumed') resumed.push(Number(a));
      }
    }
    const log = await readLog(redis.url);
    expect([...streams]).toHaveLength(1); // one process at a time: the stream is taken over each start
    expect([...log.keys()]).toEqual([...streams]);
    const entries = log.get([...streams][0]) ?? [];
    const ids = entries.map((e) => (JSON.parse(e.data) as { id: string }).id);
    // Every resolved event stored exactly once, at its seq.
    for (const [id, seq] of resolved) {
      expect(entries.filter((_, i) => ids[i] === id).map((e) => e.seq)).toEqual([seq]);
    }
    // No seq on two events (the log holds each seq once), and no event under two seqs.
    const seqs = entries.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(new Set(ids).size).toBe(ids.length);
    // No phantom "resumed": each is a seq in the log, holding the event resolved with it if any.
    for (const seq of resumed) {
      const at = entries.findIndex((e) => e.seq === seq);
      expect(at).toBeGreaterThanOrEqual(0);
      const owner = [...resolved].find(([, s]) => s === seq)?.[0];
      if (owner !== undefined) expect(ids[at]).toBe(owner);
    }
    console.log(
      `kill test: ${KILLS} kills (${soonAfterSend} 0–10 ms after a send() began), ${resolved.size} sends resolved, ` +
        `${entries.length} events in the log, ${resumed.length} resumed acks`,
    );
    expect(soonAfterSend).toBeGreaterThanOrEqual(KILLS / 4);
    expect(resolved.size).toBeGreaterThan(KILLS);
  }, 180_000);
});
