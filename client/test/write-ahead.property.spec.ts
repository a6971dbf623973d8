// The write-ahead promise as a property (fast-check): on a storage whose writes take random time,
// fail at random (before or after they took effect) and are cut off by kills at random moments, over
// a connection that drops at random, every event whose send() resolved is stored exactly once with
// the seq it was given, no seq goes to two events, and every "resumed" ack is for the event stored.
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { type Ack, CbsaClient, type QueueStorage, type StorageEntry } from '../src/index.js';
import { FakeServer } from './fake-server.js';

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A store that outlives the client "processes" using it. A write takes effect after a random delay,
 * then resolves after another; some fail before taking effect, some after. kill() ends the process:
 * writes not yet in effect never are, and nothing of it settles again.
 */
class ChaosStorage implements QueueStorage {
  readonly map = new Map<string, string>();
  lockName = 'life-0';
  private life = 0;
  failures = 0;

  constructor(
    private readonly rand: () => number,
    private readonly failRate: number,
  ) {}

  load(prefix: string): StorageEntry[] {
    return [...this.map].filter(([key]) => key.startsWith(prefix));
  }

  write(set: StorageEntry[], remove: string[]): Promise<void> {
    const life = this.life;
    const roll = this.rand();
    const mode = roll < this.failRate / 2 ? 'fail' : roll < this.failRate ? 'fail-after' : 'ok';
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        if (life !== this.life) return;
        if (mode !== 'fail') {
          for (const [key, value] of set) this.map.set(key, value);
          for (const key of remove) this.map.delete(key);
        }
        setTimeout(() => {
          if (life !== this.life) return;
          if (mode === 'ok') return resolve();
          this.failures++;
          reject(new Error(`write failed (${mode})`));
        }, this.rand() * 3);
      }, this.rand() * 3);
    });
  }

  kill(): void {
    this.life++;
    this.lockName = `life-${this.life}`; // a killed process's lock dies with it
  }
}

describe('write-ahead (property)', () => {
  let server: FakeServer;

  beforeAll(async () => {
    server = await FakeServer.start();
  });
  afterAll(() => server.close());

  it('every resolved event is stored once under its seq, through random write failures, kills and cuts', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.array(
          fc.record({ events: fc.integer({ min: 0, max: 12 }), killAfterMs: fc.integer({ min: 0, max: 8 }) }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        fc.constantFrom(0, 0.15, 0.4),
        async (seed, lives, failRate) => {
          const rand = random(seed);
          const storage = new ChaosStorage(rand, failRate);
          const resolved = new Map<string, { stream: string; seq: number }>();
          const resumed: { stream: string; seq: number }[] = [];
          const streams = new Set<string>();
          let cut = 0;
          server.verdict = ({ ws }) => {
            if (rand() < 0.08) {
              cut++;
              setImmediate(() => ws.terminate());
              return rand() < 0.5 ? 'store-no-reply' : { close: 1011 };
            }
            return 'store';
          };
          const start = () => {
            const client = new CbsaClient({
              url: server.url,
              WebSocket,
              storage,
              minDelay: 2,
              maxDelay: 10,
              ackTimeout: 1_000,
              onAck: (ack: Ack) => {
                if (ack.status === 'resumed') resumed.push({ stream: client.streamId, seq: ack.seq });
              },
            });
            return client;
          };
          run++;
          for (const [life, { events, killAfterMs }] of lives.entries()) {
            const client = start();
            await client.ready;
            streams.add(client.streamId);
            const sends: Promise<void>[] = [];
            for (let n = 0; n < events; n++) {
              const id = `${run}-${life}-${n}`;
              const sending = client.send({ id }).then(
                (seq) => void resolved.set(id, { stream: client.streamId, seq }),
                () => undefined,
              );
              if (rand() < 0.5) await sending;
              else sends.push(sending);
            }
            await sleep(killAfterMs);
            storage.kill();
            void client.close(0);
            await sleep(5);
          }
          // The last start: nothing fails any more; everything left is delivered.
          server.verdict = () => 'store';
          const storageOk = new ChaosStorage(rand, 0);
          for (const [key, value] of storage.map) storageOk.map.set(key, value);
          storageOk.lockName = 'final';
          const last = new CbsaClient({
            url: server.url,
            WebSocket,
            storage: storageOk,
            minDelay: 2,
            maxDelay: 10,
            onAck: (ack) => {
              if (ack.status === 'resumed') resumed.push({ stream: last.streamId, seq: ack.seq });
            },
          });
          await last.ready;
          streams.add(last.streamId);
          expect(await last.flush(10_000)).toBe(true);
          await last.close();

          const stored = server.stored.filter((s) => streams.has(s.stream));
          // Each resolved event stored exactly once, at the seq and on the stream its send() gave.
          for (const [id, at] of resolved) {
            const copies = stored.filter((s) => s.data.id === id);
            expect(copies.map((s) => ({ stream: s.stream, seq: s.seq }))).toEqual([at]);
          }
          // No seq given to two events.
          const given = [...resolved.values()].map((at) => `${at.stream}/${at.seq}`);
          expect(new Set(given).size).toBe(given.length);
          // Every "resumed" is an event that is in the log; when its send() resolved, it is that event.
          for (const at of resumed) {
            const entry = stored.find((s) => s.stream === at.stream && s.seq === at.seq);
            expect(entry).toBeDefined();
            const owner = [...resolved].find(([, r]) => r.stream === at.stream && r.seq === at.seq)?.[0];
            if (owner !== undefined) expect(entry!.data.id).toBe(owner);
          }
          void cut;
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});
