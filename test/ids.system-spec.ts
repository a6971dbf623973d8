// Message ids with Redis against a private redis-server: the slot records are rolled back so that a
// new process takes a slot another still uses, then Redis is flushed, then restarted empty with every
// process restarted. Whatever happens, no id is handed out twice, each connection's ids increase and
// none is above the time floor + 6·10^11. Also the startup warning about an evicting maxmemory-policy.
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { ID_HEADROOM, timeFloor } from '../src/stream/id-source.js';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats } from './support/nats.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { Instance } from '../harness/instance.mjs';
import { sleep, until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

interface Ack {
  status: string;
  message_id?: number;
}

/** A connection that sends `{}` in rounds of 20 and keeps the ids acked, checking each against the clock. */
class Sender {
  readonly ids: number[] = [];
  refused = 0;

  private constructor(private readonly client: WsClient) {}

  static async open(port: number): Promise<Sender> {
    return new Sender(await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`));
  }

  async send(rounds: number): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 20; i++) this.client.send('{}');
      for (let i = 0; i < 20; i++) {
        const ack = await this.client.nextJson<Ack>(10_000);
        if (ack.status !== 'received') {
          this.refused++;
          continue;
        }
        expect(ack.message_id!).toBeLessThanOrEqual(timeFloor(Date.now()) + ID_HEADROOM);
        this.ids.push(ack.message_id!);
      }
    }
  }

  close(): void {
    this.client.close();
  }
}

function increasing(ids: number[]): boolean {
  return ids.every((id, i) => i === 0 || id > ids[i - 1]);
}

describeWithRedis('Message ids with Redis (e2e)', () => {
  it('no id twice through a rolled-back slot record, FLUSHALL, and Redis restarted empty with every process restarted', async () => {
    let redis = await RedisServer.start();
    const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    // More slots than the default, as a deployment of more than 8 processes would use.
    const slotCount = 16;
    const env = { REDIS_URL: redis.url, ID_SLOTS: String(slotCount) };
    const slots = async () => {
      const keys = (await admin.keys('cbsa:id_slot:*')).sort();
      const values = keys.length > 0 ? await admin.mget(keys) : [];
      return new Map(keys.map((k, i) => [k, values[i]]));
    };
    const all: number[] = [];
    const processes: Instance[] = [];
    try {
      const a = await Instance.start(env);
      processes.push(a);
      const before = await slots();
      const b = await Instance.start(env);
      processes.push(b);
      const after = await slots();
      const bSlot = [...after.keys()].find((k) => !before.has(k))!;
      expect(after.size).toBe(2);
      const [onA, onB] = await Promise.all([Sender.open(a.port), Sender.open(b.port)]);
      await Promise.all([onA.send(5), onB.send(5)]);

      // A replica promoted without B's lease: B's record is gone, and B (stopped) cannot take it
      // back first. Every other free slot is held (as it may be by processes this test does not
      // start), so the next process takes B's slot.
      b.service.proc.kill('SIGSTOP');
      await admin.del(bSlot);
      const fillers = Array.from({ length: slotCount }, (_, n) => `cbsa:id_slot:${n}`).filter(
        (k) => !after.has(k),
      );
      for (const key of fillers) await admin.set(key, 'filler', 'PX', 60_000);
      const starting = Instance.start(env);
      const taken = await until(
        () => slots(),
        (m) => m.get(bSlot) !== undefined,
        30_000,
      );
      expect(taken.get(bSlot)).not.toBe(after.get(bSlot));
      await admin.del(...fillers);
      // B goes on: it hands out ids while its lease may still be valid, then finds its slot taken.
      b.service.proc.kill('SIGCONT');
      const c = await starting;
      processes.push(c);
      const onC = await Sender.open(c.port);
      await Promise.all([onA.send(10), onB.send(10), onC.send(10)]);

      // FLUSHALL: every record gone; each holder takes its slot again and goes on.
      await admin.flushall();
      await Promise.all([onA.send(5), onB.send(5), onC.send(5)]);
      // A was never touched: not one frame refused while Redis was healthy.
      expect(onA.refused).toBe(0);
      for (const sender of [onA, onB, onC]) {
        expect(increasing(sender.ids)).toBe(true);
        all.push(...sender.ids);
        sender.close();
      }
      await Promise.all(processes.splice(0).map((p) => p.service.stop()));

      // Redis restarts empty and every process restarts: nothing remembers an earlier id.
      const port = redis.port;
      await redis.stop();
      redis = await RedisServer.start({ port });
      const again = await Promise.all([Instance.start(env), Instance.start(env)]);
      processes.push(...again);
      const senders = await Promise.all(again.map((p) => Sender.open(p.port)));
      await Promise.all(senders.map((s) => s.send(5)));
      for (const sender of senders) {
        expect(sender.refused).toBe(0);
        expect(increasing(sender.ids)).toBe(true);
        all.push(...sender.ids);
        sender.close();
      }
    } finally {
      admin.disconnect();
      await Promise.all(processes.map((p) => p.service.stop()));
      await redis.stop();
    }
    expect(all.length).toBeGreaterThanOrEqual(1200);
    expect(new Set(all).size).toBe(all.length);
  }, 120_000);

  it('warns at startup when maxmemory-policy can evict keys', async () => {
    const redis = await RedisServer.start();
    const admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const instance = await Instance.start({ REDIS_URL: redis.url });
    try {
      const warning = await instance.service.waitForLine((l) => /maxmemory-policy/.test(l.msg));
      expect(warning.msg).toBe(
        'Redis maxmemory-policy is allkeys-lru: under memory pressure Redis may evict stream states, stream entries and id slots; set it to noeviction',
      );
      expect(warning.level).toBe(40);
    } finally {
      admin.disconnect();
      await instance.service.stop();
      await redis.stop();
    }
  }, 60_000);
});

describeWithNats('Message ids with SINK=nats and no Redis (e2e)', () => {
  it('no id twice when the slot records are purged and one is taken over while its holder is stopped', async () => {
    const nats = await NatsServer.start();
    const nc = await connect({ servers: nats.url });
    const slotCount = 4;
    const env = { SINK: 'nats', NATS_URL: nats.url, ID_SLOTS: String(slotCount) };
    const processes: Instance[] = [];
    const all: number[] = [];
    let refusedAfterTakeover: number | undefined;
    try {
      const [a, b] = await Promise.all([Instance.start(env), Instance.start(env)]);
      processes.push(a, b);
      const kv = await new Kvm(nc).open('CBSA_id_slots');
      const revisions = async () => {
        const out = new Map<string, number>();
        for await (const key of await kv.keys()) {
          const entry = await kv.get(key);
          if (entry !== null && entry.operation === 'PUT') out.set(key, entry.revision);
        }
        return out;
      };
      const [onA, onB] = await Promise.all([Sender.open(a.port), Sender.open(b.port)]);
      await Promise.all([onA.send(5), onB.send(5)]);
      // B stops renewing: its record is the one whose revision stays put.
      b.service.proc.kill('SIGSTOP');
      const before = await revisions();
      await sleep(800);
      const after = await revisions();
      const bSlot = [...before.keys()].find((key) => after.get(key) === before.get(key))!;
      expect(bSlot).toBeDefined();
      const bToken = (await kv.get(bSlot))!.string();
      // The records rolled back to before any lease; every slot but B's held by someone else.
      for (const key of after.keys()) await kv.purge(key);
      const fillers = Array.from({ length: slotCount }, (_, n) => `slot${n}`).filter((k) => k !== bSlot);
      for (const key of fillers) await kv.put(key, 'filler');
      const c = await Instance.start(env);
      processes.push(c);
      // C holds B's slot now, while B (stopped) still thinks it does.
      const taken = await kv.get(bSlot);
      expect(taken?.operation).toBe('PUT');
      expect(taken!.string()).not.toBe(bToken);
      for (const key of fillers) await kv.purge(key);
      b.service.proc.kill('SIGCONT');
      const onC = await Sender.open(c.port);
      await Promise.all([onA.send(10), onB.send(10), onC.send(10)]);
      expect(onA.refused).toBe(0);
      for (const sender of [onA, onB, onC]) {
        expect(increasing(sender.ids)).toBe(true);
        all.push(...sender.ids);
        sender.close();
      }
      // B resumes holding a slot that C took: until it leases another, a frame of B (or of C, should
      // B's stale lease meet C's first) may be answered "Service unavailable", never given a used id.
      refusedAfterTakeover = onB.refused + onC.refused;
    } finally {
      await nc.close();
      await Promise.all(processes.map((p) => p.service.stop()));
      await nats.dispose();
    }
    // Every frame answered: received with a fresh id, or refused in the takeover's one round.
    expect(all.length + refusedAfterTakeover).toBe(800);
    expect(refusedAfterTakeover).toBeLessThanOrEqual(20);
    expect(new Set(all).size).toBe(all.length);
  }, 120_000);
});
