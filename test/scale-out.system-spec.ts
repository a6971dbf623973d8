// Scale-out over a private redis-server: the bus, cluster totals, id leases across workers, the
// durable stream sink, readiness, and Redis outages. Services run from the production build.
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/env.js';
import { timeFloor } from '../src/stream/id-source.js';
import { freePort } from '../harness/process.mjs';
import { Instance } from '../harness/instance.mjs';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { sleep, until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';
import type {
  AckFrame,
  ErrorFrame,
  EventsFrame,
  HelloFrame,
  IngestFrame,
  StatsFrame,
} from '../src/protocol/index.js';

/** Any reply on the ingest socket, read loosely: tests look at `status` before the other fields. */
type Ack = Partial<Omit<AckFrame, 'status'> & Omit<ErrorFrame, 'status'>> & Pick<IngestFrame, 'status'>;

const ACK = {
  status: 'received',
  server_timestamp: expect.any(Number) as unknown,
  message_id: expect.any(Number) as unknown,
};

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An instance as these suites run it: monitors flushed every 20 ms. */
function startInstance(env: Record<string, string>): Promise<Instance> {
  return Instance.start({ MONITOR_FLUSH_MS: '20', ...env });
}

describeWithRedis('Scale-out with Redis (e2e)', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());

  describe('two instances sharing Redis', () => {
    let a: Instance;
    let b: Instance;

    beforeAll(async () => {
      [a, b] = await Promise.all([
        startInstance({ REDIS_URL: redis.url, MONITOR_REPLAY: '50' }),
        startInstance({ REDIS_URL: redis.url, MONITOR_REPLAY: '50' }),
      ]);
      await until(
        () => a.ready(),
        (r) => r.status === 200,
      );
      await until(
        () => b.ready(),
        (r) => r.status === 200,
      );
    });
    afterAll(async () => {
      await Promise.all([a.stop(), b.stop()]);
    });

    it('shows a monitor on A the frames sent to B', async () => {
      const monitor = await WsClient.open(a.ws('/ws/monitor'));
      const client = await WsClient.open(b.ws('/ws/behaviour'));
      client.send('{"event_type":"swipe","user_id":"on-b"}');
      const ack = await client.nextJson<Ack>();
      const batch = await monitor.until<{ type: string; events: { message_id: number; data: unknown }[] }>(
        (f) => f.type === 'events' && f.events.some((e) => e.message_id === ack.message_id),
      );
      expect(batch.events.find((e) => e.message_id === ack.message_id)?.data).toEqual({
        event_type: 'swipe',
        user_id: 'on-b',
      });
      monitor.close();
      client.close();
    });

    it("gives a monitor on either instance the cluster's node counts, the instances, and a cluster-wide replay", async () => {
      const monitor = await WsClient.open(a.ws('/ws/monitor'));
      const settled = (f: StatsFrame) => f.type === 'stats' && f.instances?.length === 2;
      // Cluster totals reach a monitor a beat after the events (each instance publishes its counts
      // once a second), so the baseline is taken once three stats frames in a row agree.
      let same = 0;
      let last = '';
      const before = await monitor.until<StatsFrame>((f) => {
        if (!settled(f)) return false;
        const nodes = JSON.stringify(f.nodes);
        same = nodes === last ? same + 1 : 1;
        last = nodes;
        return same === 3;
      }, 10_000);
      const onA = await WsClient.open(a.ws('/ws/behaviour'));
      const onB = await WsClient.open(b.ws('/ws/behaviour'));
      const ids: number[] = [];
      for (let i = 0; i < 3; i++) {
        onA.send(`{"event_type":"tap","n":${i}}`);
        ids.push((await onA.nextJson<Ack>()).message_id!);
      }
      for (let i = 0; i < 2; i++) {
        onB.send('{broken');
        await onB.nextJson();
      }
      const plus = (deltas: Record<string, number>) =>
        Object.fromEntries(Object.entries(before.nodes).map(([id, n]) => [id, n + (deltas[id] ?? 0)]));
      const expected = plus({
        client: 5,
        ingest: 5,
        parse: 5,
        error: 2,
        classify: 3,
        touch: 3,
        stream: 3,
        ack: 3,
      });
      const after = await monitor.until<StatsFrame>(
        (f) => settled(f) && f.nodes.client === expected.client,
        8000,
      );
      expect(after.nodes).toEqual(expected);
      const ownIds = await Promise.all(
        [a, b].map(async (x) => ((await x.health()).body.instance as { id: string }).id),
      );
      expect(after.instances!.map((i) => i.id)).toEqual([...ownIds].sort());

      const late = await WsClient.open(b.ws('/ws/monitor'));
      const hello = await late.nextJson<HelloFrame>();
      expect(hello.replay).toEqual({ events: 50, scope: 'cluster' });
      const replay = await late.nextJson<EventsFrame>();
      expect(replay.replay).toBe(true);
      expect(ids.every((id) => replay.events.some((e) => e.message_id === id))).toBe(true);
      expect(replay.events.filter((e) => e.message_id === null).length).toBeGreaterThanOrEqual(2);
      [monitor, late, onA, onB].forEach((c) => c.close());
    });

    it('applies a filter on the receiving instance: a monitor on A gets exactly the matching events sent to B', async () => {
      const monitor = await WsClient.open(a.ws('/ws/monitor?filter=user_id:far%20category:touch'));
      const got: { message_id: number | null }[] = [];
      monitor.socket.on('message', (d: Buffer) => {
        const f = JSON.parse(d.toString()) as {
          type: string;
          replay?: boolean;
          events?: { message_id: number }[];
        };
        if (f.type === 'events' && f.replay !== true) got.push(...f.events!);
      });
      await sleep(300);
      const onB = await WsClient.open(b.ws('/ws/behaviour'));
      const wanted: number[] = [];
      for (let i = 0; i < 60; i++) {
        const user = i % 3 === 0 ? 'far' : 'near';
        onB.send(JSON.stringify({ event_type: i % 2 === 0 ? 'tap' : 'swipe', user_id: user, n: i }));
        const id = (await onB.nextJson<Ack>()).message_id!;
        if (user === 'far' && i % 2 === 0) wanted.push(id);
      }
      await until(
        () => Promise.resolve(got.length),
        (n) => n >= wanted.length,
        5000,
      );
      await sleep(300);
      expect(got.map((e) => e.message_id)).toEqual(wanted);
      monitor.close();
      onB.close();
    });

    it('publishes every event again as soon as another instance opens its first monitor', async () => {
      // Every earlier monitor is closed and the heartbeats know it: B publishes only the newest
      // MONITOR_REPLAY (50) events of each flush, for the replays.
      for (const instance of [a, b]) {
        await until(
          () => instance.health(),
          // instances: 2 means the cluster counts are fresh (not this instance's own as a fallback).
          (h) => h.body.active_monitors === 0 && h.body.instances === 2,
          8000,
        );
      }
      const onB = await WsClient.open(b.ws('/ws/behaviour'));
      const monitor = await WsClient.open(a.ws('/ws/monitor'));
      const seen = new Set<number>();
      monitor.socket.on('message', (d: Buffer) => {
        const frame = JSON.parse(d.toString()) as EventsFrame | { type: string };
        if (frame.type === 'events' && !(frame as EventsFrame).replay)
          (frame as EventsFrame).events.forEach((e) => seen.add(e.message_id!));
      });
      expect((await monitor.nextJson<HelloFrame>()).type).toBe('hello');
      // At once, well before the next heartbeat could tell B: a burst of 4x the replay in one go.
      for (let i = 0; i < 200; i++) onB.send(`{"event_type":"tap","n":${i}}`);
      const ids: number[] = [];
      for (let i = 0; i < 200; i++) ids.push((await onB.nextJson<Ack>()).message_id!);
      await until(() => Promise.resolve(ids.every((id) => seen.has(id))), Boolean, 5000);
      monitor.close();
      onB.close();
    });

    it("reports the cluster's totals on either instance, and drops a dead instance within 5 s", async () => {
      const onA = await WsClient.open(a.ws('/ws/behaviour'));
      const onB = await Promise.all([1, 2].map(() => WsClient.open(b.ws('/ws/behaviour'))));
      for (const instance of [a, b]) {
        const { body } = await until(
          () => instance.health(),
          (h) => h.body.active_connections === 3,
        );
        expect(body).toMatchObject({ status: 'ok', active_connections: 3, instances: 2 });
        expect((body.instance as { active_connections: number }).active_connections).toBe(
          instance === a ? 1 : 2,
        );
      }
      b.service.proc.kill('SIGKILL');
      const stoppedAt = Date.now();
      const { body } = await until(
        () => a.health(),
        (h) => h.body.active_connections === 1 && h.body.instances === 1,
        8000,
      );
      expect(Date.now() - stoppedAt).toBeLessThan(5000);
      expect(body.active_connections).toBe(1);
      onA.close();
      onB.forEach((c) => c.socket.terminate());
    });
  });

  it('keeps message ids unique and increasing per connection across WORKERS=4 (40 clients)', async () => {
    const cluster = await startInstance({ REDIS_URL: redis.url, WORKERS: '4' });
    try {
      await until(
        () => cluster.ready(),
        (r) => r.status === 200,
      );
      // Every worker listening (each logs its own line), so node:cluster can hand connections to all.
      await until(
        () =>
          new Set(
            cluster.service
              .lines()
              .filter((l) => / listening on /.test(l.msg))
              .map((l) => l.pid),
          ).size,
        (n) => n >= 4,
        60_000,
      );
      const perClient = await Promise.all(
        Array.from({ length: 40 }, async (_, c) => {
          const client = await WsClient.open(cluster.ws('/ws/behaviour'));
          const ids: number[] = [];
          for (let round = 0; round < 5; round++) {
            for (let i = 0; i < 20; i++) client.send(JSON.stringify({ c, i }));
            for (let i = 0; i < 20; i++) {
              const ack = await client.nextJson<Ack>(10_000);
              expect(ack).toEqual(ACK);
              ids.push(ack.message_id!);
            }
          }
          client.close();
          return ids;
        }),
      );
      const all = perClient.flat();
      expect(all.length).toBe(4000);
      // The clients were spread over the workers: their connect lines name at least two pids.
      const servedBy = new Set(
        cluster.service
          .lines()
          .filter((l) => /^Client \S+ connected$/.test(l.msg))
          .map((l) => l.pid),
      );
      expect(servedBy.size).toBeGreaterThanOrEqual(2);
      expect(new Set(all).size).toBe(all.length);
      for (const ids of perClient)
        for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
      const workers = () =>
        new Set(
          cluster.service
            .lines()
            .filter((l) => / listening on /.test(l.msg))
            .map((l) => l.pid),
        );
      expect(
        (
          await until(
            () => Promise.resolve(workers()),
            (p) => p.size === 4,
          )
        ).size,
      ).toBe(4);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  it('sink mode: after kill -9 under load, every acked message is in the stream', async () => {
    const prefix = 'sinkkill:';
    const instance = await startInstance({
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      SINK: 'redis-stream',
    });
    await until(
      () => instance.ready(),
      (r) => r.status === 200,
    );
    const acked: number[] = [];
    const clients = await Promise.all(
      Array.from({ length: 10 }, () => WsClient.open(instance.ws('/ws/behaviour'))),
    );
    clients.forEach((c) =>
      c.socket.on('message', (d: Buffer) => {
        const ack = JSON.parse(d.toString()) as Ack;
        if (ack.status === 'received') acked.push(ack.message_id!);
      }),
    );
    let sent = 0;
    const load = (async () => {
      while (
        sent < 20_000 &&
        instance.service.proc.exitCode === null &&
        instance.service.proc.signalCode === null
      ) {
        for (const c of clients)
          for (let i = 0; i < 50 && sent < 20_000; i++, sent++) c.send(`{"n":${sent}}`);
        await sleep(5);
      }
    })();
    await until(
      () => Promise.resolve(acked.length),
      (n) => n > 3000,
      20_000,
    );
    instance.service.proc.kill('SIGKILL');
    await load;
    await instance.service.exited;
    expect(sent).toBeGreaterThan(acked.length);

    const reader = new Redis(redis.url);
    try {
      const entries = await reader.xrange(`${prefix}stream`, '-', '+');
      const inStream = new Set(entries.map(([, fields]) => Number(fields[fields.indexOf('message_id') + 1])));
      expect(acked.filter((id) => !inStream.has(id))).toEqual([]);
      const [, fields] = entries[0];
      expect(
        Object.fromEntries(
          Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]),
        ),
      ).toMatchObject({
        message_id: expect.stringMatching(/^\d+$/) as unknown,
        client_id: expect.any(String) as unknown,
        server_timestamp: expect.stringMatching(/^\d+\.\d{3}$/) as unknown,
        category: 'other',
        data: expect.stringMatching(/^\{"n":\d+\}$/) as unknown,
      });
    } finally {
      reader.disconnect();
      clients.forEach((c) => c.socket.terminate());
    }
  }, 60_000);

  it('sink mode with Redis stopped: frames get "Service unavailable", ready is 503; Redis back: acks resume', async () => {
    const own = await RedisServer.start();
    const instance = await startInstance({ REDIS_URL: own.url, SINK: 'redis-stream' });
    try {
      await until(
        () => instance.ready(),
        (r) => r.status === 200,
      );
      const client = await WsClient.open(instance.ws('/ws/behaviour'));
      client.send('{"before":1}');
      expect((await client.nextJson<Ack>()).status).toBe('received');

      await own.stop();
      const ready = await until(
        () => instance.ready(),
        (r) => r.status === 503,
      );
      expect(ready.body).toMatchObject({ status: 'error', error: { sink: { status: 'down' } } });
      client.send('{"during":1}');
      expect(await client.nextJson<Ack>()).toEqual({ status: 'error', message: 'Service unavailable' });

      await own.restart();
      await until(
        () => instance.ready(),
        (r) => r.status === 200,
        15_000,
      );
      client.send('{"after":1}');
      expect((await client.nextJson<Ack>()).status).toBe('received');
      client.close();
    } finally {
      await instance.stop();
      await own.stop();
    }
  }, 60_000);

  it('bus mode with Redis stopped: acks go on while the id slot lease lasts, ready stays 200, /health and metrics say the bus is down; when Redis returns a monitor on A sees B again', async () => {
    const own = await RedisServer.start();
    // A lease that outlives the outage's checks on a loaded machine (4.5 s without Redis).
    const env = { REDIS_URL: own.url, ID_SLOT_TTL_MS: '6000' };
    const [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    try {
      await until(
        () => a.ready(),
        (r) => r.status === 200,
      );
      await until(
        () => b.ready(),
        (r) => r.status === 200,
      );
      const monitor = await WsClient.open(a.ws('/ws/monitor'));
      const client = await WsClient.open(b.ws('/ws/behaviour'));
      const seen = new Set<number>();
      monitor.socket.on('message', (d: Buffer) => {
        const frame = JSON.parse(d.toString()) as { type: string; events?: { message_id: number }[] };
        frame.events?.forEach((e) => seen.add(e.message_id));
      });
      const send = async (tag: string) => {
        client.send(JSON.stringify({ tag }));
        const ack = await client.nextJson<Ack>();
        expect(ack.status).toBe('received');
        return ack.message_id!;
      };
      const before = await send('before');
      await until(() => Promise.resolve(seen.has(before)), Boolean);

      const localMonitor = await WsClient.open(b.ws('/ws/monitor'));
      expect((await b.health()).body.bus).toBe('up');
      await own.stop();
      await until(
        () => b.health(),
        (r) => r.body.bus === 'down',
      );
      const during: number[] = [];
      for (let i = 0; i < 20; i++) during.push(await send('during'));
      // The instance still serves ingest: it stays in the load balancer.
      expect(await b.ready()).toEqual({
        status: 200,
        body: expect.objectContaining({ status: 'ok' }) as unknown,
      });
      expect(await (await fetch(b.http('/metrics'))).text()).toMatch(/^cbsa_bus_up 0$/m);
      // B's own monitors keep seeing B's events while the bus is down.
      const local = new Set<number>();
      while (!during.every((id) => local.has(id))) {
        const frame = await localMonitor.until<{ type: string; events: { message_id: number }[] }>(
          (f) => f.type === 'events',
        );
        frame.events.forEach((e) => local.add(e.message_id));
      }
      localMonitor.close();

      await own.restart();
      await until(
        () => a.ready(),
        (r) => r.status === 200,
        15_000,
      );
      await until(
        () => b.ready(),
        (r) => r.status === 200,
        15_000,
      );
      await until(
        () => b.health(),
        (r) => r.body.bus === 'up',
      );
      expect(await (await fetch(b.http('/metrics'))).text()).toMatch(/^cbsa_bus_up 1$/m);
      const after = await until(
        async () => {
          const id = await send('after');
          await sleep(200);
          return seen.has(id);
        },
        Boolean,
        15_000,
      );
      expect(after).toBe(true);
      const warnings = b.service.lines().filter((l) => l.msg === 'Redis unreachable; retrying');
      expect(warnings.length).toBe(1);
      monitor.close();
      client.close();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await own.stop();
    }
  }, 60_000);

  it('readiness reports failing id leases (every slot held), logged once per state change; fixed: served again', async () => {
    const leaseError =
      'all 3 id slots are held by other processes (ID_SLOTS=3: at most 3 processes, workers included, share one log; raise ID_SLOTS on every one of them, or run fewer)';
    const own = await RedisServer.start();
    const admin = new Redis(own.url);
    // Every id slot held by someone else (records that never expire).
    for (let slot = 0; slot < 3; slot++) await admin.set(`cbsa:id_slot:${slot}`, 'someone else');
    const startedAt = Date.now();
    const instance = await startInstance({ REDIS_URL: own.url, ID_SLOTS: '3' });
    try {
      const client = await WsClient.open(instance.ws('/ws/behaviour'));
      for (let i = 0; i < 5; i++) {
        client.send('{}');
        expect(await client.nextJson<Ack>()).toEqual({ status: 'error', message: 'Service unavailable' });
      }
      const ready = await until(
        () => instance.ready(),
        (r) => JSON.stringify(r.body).includes('held by other processes'),
      );
      expect(ready).toEqual({
        status: 503,
        body: expect.objectContaining({
          status: 'error',
          error: {
            ids: {
              status: 'down',
              message: 'no message id to hand out',
              lease_error: leaseError,
            },
          },
        }) as unknown,
      });
      const failing = () =>
        instance.service.lines().filter((l) => l.msg === `Leasing an id slot fails: ${leaseError}`);
      expect(failing()).toHaveLength(1);
      expect(failing()[0].level).toBe(50);

      await admin.del('cbsa:id_slot:2');
      const ack = await until(
        async () => {
          client.send('{}');
          return client.nextJson<Ack>();
        },
        (a) => a.status === 'received',
      );
      // Ids follow the time floor (docs/delivery-engines.md, "Message ids").
      expect(ack.message_id).toBeGreaterThan(timeFloor(startedAt));
      expect((await instance.ready()).status).toBe(200);
      expect(failing()).toHaveLength(1);
      expect(instance.service.lines().filter((l) => l.msg === 'Leasing an id slot works again')).toHaveLength(
        1,
      );
      client.close();
      const fresh = await WsClient.open(instance.ws('/ws/behaviour'));
      fresh.send('{}');
      expect((await fresh.nextJson<Ack>()).status).toBe('received');
      fresh.close();
    } finally {
      admin.disconnect();
      await instance.stop();
      await own.stop();
    }
  }, 60_000);

  it('is not ready until Redis is reachable', async () => {
    const startedAt = Date.now();
    const port = await freePort();
    const instance = await startInstance({ REDIS_URL: `redis://127.0.0.1:${port}/0` });
    let late: RedisServer | undefined;
    try {
      expect((await instance.ready()).status).toBe(503);
      expect((await json(instance.http('/health/live'))).status).toBe(200);
      const client = await WsClient.open(instance.ws('/ws/behaviour'));
      client.send('{}');
      expect(await client.nextJson<Ack>()).toEqual({ status: 'error', message: 'Service unavailable' });
      late = await RedisServer.start({ port });
      await until(
        () => instance.ready(),
        (r) => r.status === 200,
        15_000,
      );
      const ack = await until(
        async () => {
          client.send('{}');
          return client.nextJson<Ack>();
        },
        (a) => a.status === 'received',
      );
      // Ids follow the time floor (docs/delivery-engines.md, "Message ids").
      expect(ack).toEqual({ ...ACK, message_id: expect.any(Number) as unknown });
      expect(ack.message_id).toBeGreaterThan(timeFloor(startedAt));
      expect(ack.message_id).toBeLessThan(2 ** 53 - 1);
      client.close();
    } finally {
      await instance.stop();
      await late?.stop();
    }
  }, 60_000);

  it('restarts a worker that dies, and shuts all workers down gracefully on SIGTERM', async () => {
    const cluster = await startInstance({ REDIS_URL: redis.url, WORKERS: '2' });
    const listening = () => cluster.service.lines().filter((l) => / listening on /.test(l.msg));
    await until(
      () => Promise.resolve(listening().length),
      (n) => n === 2,
      45_000, // workers boot slowly on a busy machine
    );
    const victim = listening()[0].pid as number;
    process.kill(victim, 'SIGKILL');
    const died = await cluster.service.waitForLine((l) => /^Worker \d+ died/.test(l.msg));
    expect(died).toMatchObject({ level: 50, worker_pid: victim, signal: 'SIGKILL' });
    await until(
      () => Promise.resolve(listening().length),
      (n) => n === 3,
      45_000,
    );

    // Each worker binds its own socket (SO_REUSEPORT); with PORT=0 the restarted one joins the same port.
    expect(new Set(listening().map((l) => /:(\d+) /.exec(l.msg)![1]))).toEqual(
      new Set([String(cluster.port)]),
    );

    const clients = await Promise.all([1, 2, 3, 4].map(() => WsClient.open(cluster.ws('/ws/behaviour'))));
    for (const client of clients) {
      client.send('{}');
      expect((await client.nextJson<Ack>()).status).toBe('received');
    }
    cluster.service.proc.kill('SIGTERM');
    for (const client of clients) expect((await client.waitClosed()).code).toBe(1001);
    expect(await cluster.service.exited).toBe(0);
    expect(cluster.service.lines().map((l) => l.msg)).toContain('All workers stopped');
  }, 120_000);

  it("exits 1 when a worker's shutdown times out, as a single process does", async () => {
    const cluster = await startInstance({ REDIS_URL: redis.url, WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '1000' });
    await until(
      () => Promise.resolve(cluster.service.lines().filter((l) => / listening on /.test(l.msg)).length),
      (n) => n === 2,
      45_000,
    );
    // An HTTP request that never finishes its headers: its worker's HTTP server cannot close around it.
    const hanging = connect(cluster.port, '127.0.0.1');
    await new Promise((resolve) => hanging.once('connect', resolve));
    hanging.write('GET /health HTTP/1.1\r\nHost: localhost\r\n');
    hanging.on('error', () => undefined);
    await sleep(300);
    cluster.service.proc.kill('SIGTERM');
    expect(await cluster.service.exited).toBe(1);
    const msgs = cluster.service.lines().map((l) => l.msg);
    expect(msgs).toContain('Shutdown timed out; exiting with connections still open');
    expect(msgs).toContain('All workers stopped; 1 did not complete their shutdown');
    hanging.destroy();
  }, 120_000);

  it('hands acked events to the example consumer, which reads them with a group and acks them', async () => {
    const prefix = 'consumer:';
    const instance = await startInstance({
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      SINK: 'redis-stream',
    });
    const client = await WsClient.open(instance.ws('/ws/behaviour'));
    try {
      await until(
        () => instance.ready(),
        (r) => r.status === 200,
      );
      const ids: number[] = [];
      for (const type of ['tap', 'swipe', 'keydown']) {
        client.send(JSON.stringify({ event_type: type, user_id: 'u1' }));
        ids.push((await client.nextJson<Ack>()).message_id!);
      }
      const consumer = spawn(process.execPath, [join(PACKAGE_ROOT, 'examples', 'stream-consumer.mjs')], {
        env: { PATH: process.env.PATH, REDIS_URL: redis.url, REDIS_PREFIX: prefix, CONSUMER: 'test' },
      });
      let out = '';
      consumer.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await until(
        () => Promise.resolve(out),
        (o) => ids.every((id) => o.includes(`#${id} `)),
      );
      consumer.kill('SIGTERM');
      await new Promise((resolve) => consumer.once('exit', resolve));
      expect(out).toContain(`#${ids[1]} gesture from `);
      const reader = new Redis(redis.url);
      const [pending] = (await reader.xpending(`${prefix}stream`, 'auth-scoring')) as [number];
      reader.disconnect();
      expect(pending).toBe(0);
    } finally {
      client.close();
      await instance.stop();
    }
  }, 30_000);
});
