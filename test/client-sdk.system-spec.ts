// @cbsa/client (the built package) against the production build of the service with
// SINK=redis-stream and a private redis-server: exactly once through severed connections and a
// kill -9, then the other paths (quarantine, rate limit, 401, 1009, overflow, close). The log is read back from
// Redis and compared with what was sent; the frames the service sends are checked against the
// AsyncAPI document.
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pathToFileURL } from 'node:url';
import type * as Sdk from '../client/src/index.js';
import { type Contract, loadContract } from './support/contract.js';
import { readHealth, waitForHealth } from './support/health.js';
import { freePort } from '../harness/process.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { CLIENT_DIST, importSdk, range, readLog } from './support/sdk.js';
import { Instance } from '../harness/instance.mjs';
import type { Service } from '../harness/service.mjs';
import { TcpProxy } from './support/tcp-proxy.js';
import { sleep, until } from '../harness/wait.mjs';

const FAST = { minDelay: 20, maxDelay: 400, ackTimeout: 3_000 };

/** A WebSocket constructor that records every frame the service sends, for the contract check. */
function recordingWebSocket(frames: string[]) {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (data: Buffer) => frames.push(data.toString()));
    }
  };
}

describeWithRedis('@cbsa/client against the service (e2e)', () => {
  let sdk: typeof Sdk;
  let contract: Contract;
  let redis: RedisServer;
  const services: Service[] = [];
  const clients: Sdk.CbsaClient[] = [];

  async function startService(env: Record<string, string>): Promise<Instance> {
    const instance = await Instance.start({ SINK: 'redis-stream', REDIS_URL: redis.url, ...env });
    services.push(instance.service);
    return instance;
  }

  beforeAll(async () => {
    [sdk, contract, redis] = await Promise.all([importSdk(), loadContract(), RedisServer.start()]);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close(0);
    for (const s of services) if (s.proc.exitCode === null && s.proc.signalCode === null) await s.stop();
    await redis.stop();
  });

  it('delivers every event exactly once, in seq order, through severed connections and kill -9', async () => {
    const port = await freePort();
    let { service } = await startService({ PORT: String(port) });
    const proxy = await TcpProxy.start(port);
    const frames: string[] = [];
    const PER_CLIENT = 400;
    const acked = new Map<string, number>();
    const made = Array.from({ length: 3 }, (_, i) => {
      const client = new sdk.CbsaClient({
        url: `ws://127.0.0.1:${proxy.port}/ws/behaviour`,
        stream: `install-${i}:session-e2e`,
        WebSocket: recordingWebSocket(frames),
        window: 16,
        ...FAST,
        onAck: () => acked.set(client.streamId, (acked.get(client.streamId) ?? 0) + 1),
      });
      clients.push(client);
      return client;
    });
    try {
      proxy.cutChance = 0.02;
      for (let n = 1; n <= PER_CLIENT; n++) {
        for (const c of made) expect(await c.send({ event_type: 'tap', n, pad: 'x'.repeat(n % 50) })).toBe(n);
        if (n % 20 === 0) await sleep(15);
        if (n === PER_CLIENT / 2) {
          service.proc.kill('SIGKILL');
          await service.exited;
          await sleep(300); // clients retry against a dead port meanwhile
          ({ service } = await startService({ PORT: String(port) }));
        }
      }
      await sleep(500);
      proxy.cutChance = 0;
      const flushed = await Promise.all(made.map((c) => c.flush(60_000)));
      if (flushed.includes(false))
        console.log(
          made.map((c) => c.stats),
          service.stdout.slice(-1500),
        );
      expect(flushed).toEqual([true, true, true]);
      expect(proxy.cuts).toBeGreaterThan(0);

      const log = await readLog(redis.url);
      for (const c of made) {
        const entries = log.get(c.streamId) ?? [];
        // Exactly once and in order: the log holds seq 1..N once each, in seq order.
        expect(entries.map((e) => e.seq)).toEqual(range(1, PER_CLIENT));
        expect(entries.map((e) => (JSON.parse(e.data) as { n: number }).n)).toEqual(range(1, PER_CLIENT));
        expect(JSON.parse(entries[7].data)).toEqual({ seq: 8, event_type: 'tap', n: 8, pad: 'xxxxxxxx' });
        expect(c.stats).toMatchObject({
          queued: 0,
          inflight: 0,
          acked: PER_CLIENT,
          dropped: 0,
          lastSeq: PER_CLIENT,
        });
        expect(c.stats.reconnects).toBeGreaterThan(0);
        expect(acked.get(c.streamId)).toBe(PER_CLIENT);
      }
      // Message ids are unique across the restart.
      const ids = [...log.values()].flat().map((e) => e.messageId);
      expect(new Set(ids).size).toBe(ids.length);
      // Every frame the service sent matches the AsyncAPI document.
      const kinds = new Set<string>();
      for (const frame of new Set(frames)) {
        const parsed = JSON.parse(frame) as { type?: string; status?: string };
        const kind = parsed.type ?? parsed.status!;
        kinds.add(kind);
        contract.check('ingest', kind, frame);
      }
      expect(kinds).toContain('resume');
      expect(kinds).toContain('received');
    } finally {
      await proxy.close();
    }
  }, 180_000);

  describe('the other paths', () => {
    let port: number;
    const TOKEN = 'sdk-e2e-token-0001'; // at least 16 characters (INGEST_TOKENS)
    const url = () => `ws://127.0.0.1:${port}/ws/behaviour`;
    const make = (options: Partial<Sdk.CbsaClientOptions>) => {
      const client = new sdk.CbsaClient({ url: url(), token: TOKEN, WebSocket, ...FAST, ...options });
      clients.push(client);
      return client;
    };

    // Touch events (event_type tap) must have a numeric x; the other paths send no event_type.
    const schemas = mkdtempSync(join(tmpdir(), 'cbsa-schemas-'));
    writeFileSync(join(schemas, 'touch.json'), '{"properties":{"x":{"type":"number"}}}');

    beforeAll(async () => {
      ({ port } = await startService({
        INGEST_TOKENS: TOKEN,
        RATE_LIMIT_PER_CONNECTION: '200',
        RATE_LIMIT_BURST: '20',
        MAX_MESSAGE_BYTES: '4096',
        EVENT_SCHEMAS_DIR: schemas,
      }));
    }, 90_000);
    afterAll(() => rmSync(schemas, { recursive: true, force: true }));

    it('quarantined: confirmed with its errors, never resent; the event is in the quarantine log', async () => {
      const acks: Sdk.Ack[] = [];
      const drops: Sdk.Drop[] = [];
      const c = make({ stream: 'schema', onAck: (a) => acks.push(a), onDrop: (d) => drops.push(d) });
      void c.send({ event_type: 'tap', x: 1 });
      void c.send({ event_type: 'tap', x: 'a' });
      void c.send({ event_type: 'tap', x: 3 });
      await expect(c.flush(20_000)).resolves.toBe(true);
      expect(acks.map((a) => [a.seq, a.status, a.errors])).toEqual([
        [1, 'received', undefined],
        [2, 'quarantined', ['/x must be number']],
        [3, 'received', undefined],
      ]);
      expect(drops).toEqual([]);
      expect(c.stats).toMatchObject({ acked: 3, queued: 0, reconnects: 0 });
      expect((await readLog(redis.url)).get('schema')!.map((e) => e.seq)).toEqual([1, 3]);
      const reader = new Redis(redis.url);
      try {
        const quarantined = await reader.xrange('cbsa:quarantine', '-', '+');
        expect(quarantined.map(([, f]) => f[f.indexOf('seq') + 1])).toEqual(['2']);
      } finally {
        await reader.quit();
      }
    });

    it('rate limit: slows down and still delivers every event exactly once', async () => {
      const c = make({ stream: 'rate-limited', window: 32 });
      for (let n = 1; n <= 300; n++) void c.send({ n });
      await expect(c.flush(60_000)).resolves.toBe(true);
      const entries = (await readLog(redis.url)).get('rate-limited')!;
      expect(entries.map((e) => e.seq)).toEqual(range(1, 300));
      expect(c.stats).toMatchObject({ acked: 300, dropped: 0, status: 'connected' });
    }, 90_000);

    it('HTTP 401: stops with status "unauthorized", then delivers after reconnect(token)', async () => {
      const statuses: string[] = [];
      const c = make({ stream: 'bad-token', token: 'wrong', onStatus: (s) => statuses.push(s) });
      await c.send({ n: 1 });
      await expect(c.flush(3_000)).resolves.toBe(false);
      expect(c.stats.status).toBe('unauthorized');
      expect(statuses).toEqual(['connecting', 'unauthorized']);
      c.reconnect(TOKEN);
      await expect(c.flush(10_000)).resolves.toBe(true);
      expect((await readLog(redis.url)).get('bad-token')!.map((e) => e.seq)).toEqual([1]);
    });

    it('close 1009: drops the event that is too large (onDrop too_large) and delivers the rest', async () => {
      const drops: Sdk.Drop[] = [];
      const c = make({ stream: 'too-large', onDrop: (d) => drops.push(d) });
      for (let n = 1; n <= 10; n++) void c.send(n === 4 ? { n, pad: 'x'.repeat(5000) } : { n });
      await expect(c.flush(20_000)).resolves.toBe(true);
      expect(drops).toEqual([{ seq: 4, reason: 'too_large', event: `{"n":4,"pad":"${'x'.repeat(5000)}"}` }]);
      const entries = (await readLog(redis.url)).get('too-large')!;
      expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
    });

    it('queue overflow: the oldest waiting events are dropped and reported; the service sees the gap', async () => {
      const proxy = await TcpProxy.start(port);
      try {
        proxy.down = true;
        const drops: Sdk.Drop[] = [];
        const c = make({
          stream: 'overflow',
          url: `ws://127.0.0.1:${proxy.port}/ws/behaviour`,
          maxQueue: 50,
          onDrop: (d) => drops.push(d),
        });
        for (let n = 1; n <= 80; n++) await c.send({ n });
        expect(drops.map((d) => [d.seq, d.reason])).toEqual(range(1, 30).map((s) => [s, 'overflow']));
        expect(c.stats).toMatchObject({ queued: 50, dropped: 30, lastSeq: 80 });
        proxy.down = false;
        await expect(c.flush(10_000)).resolves.toBe(true);
        expect((await readLog(redis.url)).get('overflow')!.map((e) => e.seq)).toEqual(range(31, 80));
        expect(c.stats).toMatchObject({ queued: 0, acked: 50, dropped: 30 });
      } finally {
        await proxy.close();
      }
    });

    it('reconnect time after a 2 s outage, with the default backoff (measured and reported)', async () => {
      const proxy = await TcpProxy.start(port);
      const statuses: { status: string; at: number }[] = [];
      const c = new sdk.CbsaClient({
        url: `ws://127.0.0.1:${proxy.port}/ws/behaviour`,
        stream: 'outage',
        token: TOKEN,
        WebSocket,
        onStatus: (status) => statuses.push({ status, at: Date.now() }),
      });
      clients.push(c);
      const took: number[] = [];
      try {
        let n = 0;
        await c.send({ n: ++n });
        await expect(c.flush(10_000)).resolves.toBe(true);
        for (let round = 0; round < 5; round++) {
          proxy.down = true;
          proxy.severAll();
          await sleep(2_000);
          for (let i = 0; i < 5; i++) await c.send({ n: ++n }); // queued while the service is away
          proxy.down = false;
          const back = Date.now();
          await expect(c.flush(30_000)).resolves.toBe(true);
          took.push(statuses.find((s) => s.status === 'connected' && s.at >= back)!.at - back);
        }
        expect((await readLog(redis.url)).get('outage')!.map((e) => e.seq)).toEqual(range(1, 26));
      } finally {
        await proxy.close();
      }
      const sorted = [...took].sort((a, b) => a - b);
      console.log(
        `reconnect after a 2 s outage: ${took.join(', ')} ms (median ${sorted[2]} ms, max ${sorted[4]} ms)`,
      );
    }, 90_000);

    it('tamper: a forged last_seq (seq 1000 written by another client) is reported, not believed', async () => {
      const tampers: Sdk.Tamper[] = [];
      const drops: Sdk.Drop[] = [];
      const victim = make({
        stream: 'victim',
        onTamper: (tamper) => tampers.push(tamper),
        onDrop: (drop) => drops.push(drop),
      });
      for (let n = 1; n <= 3; n++) await victim.send({ n });
      await expect(victim.flush(10_000)).resolves.toBe(true);
      // The attacker: same static token, the victim's stream id, one frame far ahead (within MAX_SEQ_GAP).
      const attacker = new WebSocket(`${url()}?stream=victim`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const replies: string[] = [];
      attacker.on('message', (data: Buffer) => replies.push(data.toString()));
      await new Promise((resolve) => attacker.once('open', resolve));
      attacker.send(JSON.stringify({ seq: 1000, forged: true }));
      await until(
        () => replies,
        (seen) => seen.some((r) => r.includes('"received"')),
        10_000,
        10,
      );
      attacker.close();
      victim.reconnect(); // the victim took its stream back (the attacker had replaced it)
      await until(
        () => tampers.length,
        (count) => count > 0,
        10_000,
        10,
      );
      expect(tampers).toEqual([{ stream: 'victim', lastSeq: 1000, highestSeq: 3 }]);
      expect(await victim.send({ n: 4 })).toBe(4); // its own numbering
      await expect(victim.flush(10_000)).resolves.toBe(true);
      expect(drops).toEqual([{ seq: 4, reason: 'tampered', event: '{"n":4}' }]);
      expect(victim.stats).toMatchObject({ lastSeq: 4, acked: 3, dropped: 1 });
      expect((await readLog(redis.url)).get('victim')!.map((e) => e.seq)).toEqual([1, 2, 3, 1000]);
    });

    it('close(): flushes what was queued, then closes its socket', async () => {
      const base = `http://127.0.0.1:${port}`;
      const before = (await readHealth(base)).active_connections;
      const c = make({ stream: 'closing' });
      await c.send({ n: 0 });
      await waitForHealth(base, (h) => h.active_connections === before + 1);
      for (let n = 1; n < 100; n++) void c.send({ n });
      await c.close(20_000);
      expect(c.stats).toMatchObject({ status: 'closed', queued: 0, inflight: 0, acked: 100 });
      expect((await readLog(redis.url)).get('closing')!.map((e) => e.seq)).toEqual(range(1, 100));
      await waitForHealth(base, (h) => h.active_connections === before);
    });

    // Node 22+ (and browsers, React Native) have a global WebSocket: with no `WebSocket` option the SDK
    // must use it. Node's is undici's, which (like a browser's) hides the HTTP status of a refused
    // upgrade, so the 401 path goes through the SDK's GET probe here, not through an error message.
    describe("on Node's global WebSocket (no constructor passed)", () => {
      const Native = globalThis.WebSocket;
      const frames: string[] = [];
      const opened: string[] = [];
      const makeGlobal = (options: Partial<Sdk.CbsaClientOptions>) => {
        const client = new sdk.CbsaClient({ url: url(), token: TOKEN, ...FAST, ...options });
        clients.push(client);
        return client;
      };

      beforeAll(() => {
        // The real global, only watched: which URLs the SDK opened with it and what the service sent.
        globalThis.WebSocket = class extends Native {
          constructor(address: string | URL, init?: string | string[]) {
            super(address, init);
            opened.push(String(address));
            this.addEventListener('message', (e: MessageEvent) => frames.push(String(e.data)));
          }
        };
      });
      afterAll(() => {
        globalThis.WebSocket = Native;
      });

      it('is the runtime under test: Node 24 has a global WebSocket, and it is not the ws package', () => {
        expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
        expect(typeof Native).toBe('function');
        expect(Native).not.toBe(WebSocket);
      });

      it('delivers every event exactly once, in order, through severed connections', async () => {
        const proxy = await TcpProxy.start(port);
        try {
          const c = makeGlobal({ stream: 'global-ws', url: `ws://127.0.0.1:${proxy.port}/ws/behaviour` });
          proxy.cutChance = 0.03;
          for (let n = 1; n <= 150; n++) {
            expect(await c.send({ event_type: 'tap', n })).toBe(n);
            if (n % 10 === 0) await sleep(20);
          }
          await sleep(300);
          proxy.cutChance = 0;
          await expect(c.flush(60_000)).resolves.toBe(true);
          expect(proxy.cuts).toBeGreaterThan(0);
          const entries = (await readLog(redis.url)).get('global-ws')!;
          expect(entries.map((e) => e.seq)).toEqual(range(1, 150));
          expect(entries.map((e) => (JSON.parse(e.data) as { n: number }).n)).toEqual(range(1, 150));
          expect(c.stats).toMatchObject({
            queued: 0,
            inflight: 0,
            acked: 150,
            dropped: 0,
            status: 'connected',
          });
          expect(c.stats.reconnects).toBeGreaterThan(0);
          // Every resumed connection was on the global (a socket cut before its resume frame is not
          // counted in reconnects, hence at least), and every frame it got matches the AsyncAPI document.
          expect(opened.filter((u) => u.includes('stream=global-ws')).length).toBeGreaterThanOrEqual(
            c.stats.reconnects + 1,
          );
          for (const frame of new Set(frames)) {
            const parsed = JSON.parse(frame) as { type?: string; status?: string };
            contract.check('ingest', parsed.type ?? parsed.status!, frame);
          }
        } finally {
          await proxy.close();
        }
      }, 90_000);

      it('HTTP 401: stops with status "unauthorized" (found by its GET probe), then delivers after reconnect(token)', async () => {
        const statuses: string[] = [];
        const c = makeGlobal({ stream: 'global-401', token: 'wrong', onStatus: (s) => statuses.push(s) });
        await c.send({ n: 1 });
        await expect(c.flush(5_000)).resolves.toBe(false);
        expect(c.stats.status).toBe('unauthorized');
        expect(statuses).toEqual(['connecting', 'unauthorized']);
        c.reconnect(TOKEN);
        await expect(c.flush(10_000)).resolves.toBe(true);
        expect((await readLog(redis.url)).get('global-401')!.map((e) => e.seq)).toEqual([1]);
        // Two connections; the token went in the Authorization header, never in the URL.
        const urls = opened.filter((u) => u.includes('stream=global-401'));
        expect(urls).toHaveLength(2);
        expect(urls.filter((u) => u.includes('token'))).toEqual([]);
      });

      it('lets a Node script exit after a 401 and close(): nothing of the probe keeps the process alive', async () => {
        // ackTimeout (the probe's bound) far beyond the wait below: a timer left behind would show.
        const script = `
          const { CbsaClient } = await import(${JSON.stringify(pathToFileURL(join(CLIENT_DIST, 'index.js')).href)});
          const c = new CbsaClient({ url: ${JSON.stringify(url())}, token: 'wrong', ackTimeout: 120000 });
          await new Promise((resolve) => { const t = setInterval(() => c.stats.status === 'unauthorized' && resolve(clearInterval(t)), 20); });
          await c.close(0);
          console.log(c.stats.status);`;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<string>((resolve) => (timer = setTimeout(resolve, 60_000, 'still running')));
        try {
          expect(await Promise.race([exited, late])).toBe(0);
          expect(out.trim()).toBe('closed');
        } finally {
          clearTimeout(timer);
          child.kill('SIGKILL');
        }
      }, 90_000);

      it('close 1009: drops the event that is too large (onDrop too_large) and delivers the rest', async () => {
        const drops: Sdk.Drop[] = [];
        const c = makeGlobal({ stream: 'global-1009', onDrop: (d) => drops.push(d) });
        for (let n = 1; n <= 6; n++) void c.send(n === 3 ? { n, pad: 'x'.repeat(5000) } : { n });
        await expect(c.flush(20_000)).resolves.toBe(true);
        expect(drops).toEqual([
          { seq: 3, reason: 'too_large', event: `{"n":3,"pad":"${'x'.repeat(5000)}"}` },
        ]);
        expect((await readLog(redis.url)).get('global-1009')!.map((e) => e.seq)).toEqual([1, 2, 4, 5, 6]);
      });
    });
  });
});
