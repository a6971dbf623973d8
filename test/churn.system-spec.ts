// Connection churn: many connect / send / ack / close cycles must leave nothing behind (connection
// counts, connection-cap counters, heap, file descriptors). SOAK_CYCLES sets the count: a short run
// in `npm test`, 20 000 in `npm run soak`.
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import WebSocket from 'ws';
import { type RunningApp, startApp } from './support/app.js';
import { sleep } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const CYCLES = Number(process.env.SOAK_CYCLES || 2000);
if (!Number.isSafeInteger(CYCLES) || CYCLES < 1) throw new Error('SOAK_CYCLES must be a positive integer');
const WARM_UP_CYCLES = 200;
const CONCURRENCY = 20;
/** Heap a connect / send / close cycle may leave behind, in bytes, after GC. */
const MAX_GROWTH_PER_CYCLE = 512;
// Caps low enough that a counter leaking one slot per cycle would soon refuse upgrades, with room
// for CONCURRENCY sockets in flight. Per IP one below the global cap, so the final probe can tell
// which counter refused.
const PER_IP_CAP = 100;
const GLOBAL_CAP = PER_IP_CAP + 1;

const ACK = {
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
};

const openFds = () => readdirSync('/proc/self/fd').length;

describe('Connection churn (e2e)', () => {
  let running: RunningApp;
  let url: string;

  /**
   * GET /health on a connection that is closed afterwards: fetch would keep a pooled socket open
   * and skew the descriptor count.
   */
  const health = () =>
    new Promise<{ status: string; active_connections: number }>((resolve, reject) => {
      const req = request(`${running.http}/health`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(JSON.parse(body) as { status: string; active_connections: number }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

  const waitForNoConnections = async () => {
    for (let i = 0; i < 100; i++) {
      const h = await health();
      if (h.active_connections === 0) return;
      await sleep(50);
    }
    throw new Error(`active_connections never returned to 0: ${JSON.stringify(await health())}`);
  };

  /** Polls the descriptor count until `done` accepts it (sockets may still be closing); the last read. */
  const fdsWhen = async (done: (count: number, previous: number) => boolean) => {
    let previous = -1;
    let count = openFds();
    for (let i = 0; i < 60 && !done(count, previous); i++) {
      await sleep(50);
      previous = count;
      count = openFds();
    }
    return count;
  };

  const heapAfterGc = async () => {
    for (let i = 0; i < 3; i++) {
      global.gc!();
      await sleep(20);
    }
    global.gc!();
    return process.memoryUsage().heapUsed;
  };

  /** `count` cycles, CONCURRENCY at a time; returns every ack's message id. */
  const churn = async (count: number) => {
    const ids: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const cycle = next++;
        const client = await WsClient.open(url);
        client.send(JSON.stringify({ event_type: 'tap', cycle }));
        const ack = await client.nextJson<{ message_id: number }>();
        expect(ack).toEqual(ACK);
        ids.push(ack.message_id);
        client.close();
        // Not waitClosed(): its 5 s timer would outlive the cycle and hold memory in the heap reading.
        await client.closed;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return ids;
  };

  /** The HTTP status an upgrade is refused with, or 101 when it is let through. */
  const upgradeStatus = () =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.terminate();
      });
      ws.on('error', () => undefined);
    });

  beforeAll(async () => {
    running = await startApp({
      MAX_CONNECTIONS: String(GLOBAL_CAP),
      MAX_CONNECTIONS_PER_IP: String(PER_IP_CAP),
    });
    url = running.ws('/ws/behaviour');
  });
  afterAll(() => running.close());

  it(
    `runs ${CYCLES} connect / send / close cycles and leaves no connection, heap or descriptor behind`,
    async () => {
      expect(global.gc).toEqual(expect.any(Function)); // run with NODE_OPTIONS=--expose-gc, as npm test does

      // Warm up first, so lazily built modules, JIT code and pools are in the baseline.
      await churn(WARM_UP_CYCLES);
      await waitForNoConnections();
      const fdsBefore = await fdsWhen((count, previous) => count === previous);
      const heapBefore = await heapAfterGc();

      const ids = await churn(CYCLES);
      expect(ids).toHaveLength(CYCLES);
      expect(new Set(ids).size).toBe(CYCLES);

      await waitForNoConnections();
      const heapAfter = await heapAfterGc();
      // Per cycle, not as a share of the heap: a leak of a few KB per connection must show.
      const perCycle = Math.round((heapAfter - heapBefore) / CYCLES);
      expect({ heapGrowthPerCycleUnder512B: perCycle < MAX_GROWTH_PER_CYCLE, perCycle }).toEqual({
        heapGrowthPerCycleUnder512B: true,
        perCycle,
      });
      expect(await fdsWhen((count) => count <= fdsBefore)).toBe(fdsBefore);

      // The upgrade caps count sockets too: exactly PER_IP_CAP fit again, and the next one is refused
      // by the per-IP cap (429), not the global one (503), so neither counter kept a slot.
      const held = await Promise.all(Array.from({ length: PER_IP_CAP }, () => WsClient.open(url))).catch(
        (err: Error) => {
          throw new Error(`${PER_IP_CAP} sockets no longer fit under the caps: ${err.message}`);
        },
      );
      expect(await upgradeStatus()).toBe(429);
      held.forEach((client) => client.close());
      await Promise.all(held.map((client) => client.closed));
    },
    (60 + CYCLES / 40) * 1000, // generous: the machine may be shared; speed is the bench's job
  );
});
