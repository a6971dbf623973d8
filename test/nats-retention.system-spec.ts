// RETENTION_MAX_AGE_S with SINK=nats: nats-server deletes entries older than the stream's max_age,
// read or not, and the service counts and logs those a durable consumer had not read
// (cbsa_retention_deleted_unread_total). The expected count is read from NATS itself: the slow
// consumer's pending and ack-pending entries just before the deletion, and the stream's first seq
// after it. Two instances count each deletion once between them, and an instance started after a
// restart neither counts an earlier deletion again nor misses one that happened while none ran.
// The example NATS permissions (deploy/acl) let the service count, with no violation.
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamManager,
  jetstreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/env.js';
import { natsCredentials } from '../src/sink/nats/credentials.js';
import { NatsServer, describeWithNats } from './support/nats.js';
import { Instance } from './support/privacy.js';
import { until, sleep } from './support/wait.js';
import { TestClient } from './support/ws-client.js';

const AGE_S = 4;
const STREAM = 'CBSA';

async function sendEvents(instance: Instance, count: number): Promise<void> {
  const client = await TestClient.open(instance.ws('/ws/behaviour'));
  for (let i = 0; i < count; i++) client.send(JSON.stringify({ event_type: 'tap', n: i }));
  for (let i = 0; i < count; i++) expect((await client.nextJson()).status).toBe('received');
  client.close();
}

async function metric(instance: Instance, name: string): Promise<number> {
  const text = await (await fetch(instance.http('/metrics'))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

/** A metric summed over instances: what the cluster counted. */
async function total(instances: Instance[], name: string): Promise<number> {
  let sum = 0;
  for (const i of instances) sum += await metric(i, name);
  return sum;
}

describeWithNats('Retention on NATS counts deleted unread entries (system)', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const env = () => ({
    SINK: 'nats',
    NATS_URL: server.url,
    RETENTION_MAX_AGE_S: String(AGE_S),
    NATS_MAX_AGE_S: String(AGE_S),
    NATS_DUPLICATE_WINDOW_S: '1',
    LOG_LEVEL: 'info',
  });

  /** Reads `take` entries of a durable consumer and acknowledges the first `ack` of them. */
  async function read(consumer: string, take: number, ack: number): Promise<void> {
    const c = await jsm.jetstream().consumers.get(STREAM, consumer);
    const messages = await c.fetch({ max_messages: take, expires: 2000 });
    let n = 0;
    for await (const m of messages) {
      if (n < ack) await m.ackAck();
      if (++n === take) break;
    }
    expect(n).toBe(take);
  }

  const consumerInfo = (name: string): Promise<ConsumerInfo> => jsm.consumers.info(STREAM, name);

  /** Until the service's snapshot in NATS shows the consumer at `floor`, so its reads are seen before the deletion. */
  async function seen(consumer: string, floor: number, first: number): Promise<void> {
    const kv = await new Kvm(nc).open(`${STREAM}_retention`);
    await until(
      async () =>
        (await kv.get('snapshot'))?.json<{ first: number; consumers: Record<string, { floor: number }> }>(),
      (s) => s !== undefined && s.first === first && s.consumers[consumer]?.floor === floor,
    );
  }

  /** Until the stream holds nothing: every entry older than the age is gone. */
  async function expired(last: number): Promise<void> {
    const info = await until(
      () => jsm.streams.info(STREAM),
      (i) => i.state.messages === 0,
      (AGE_S + 10) * 1000,
    );
    expect(info.state.first_seq).toBe(last + 1);
  }

  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it('counts, once across two instances and restarts, the deleted entries a durable consumer had not acked', async () => {
    let a = await Instance.start(env());
    let b = await Instance.start(env());
    try {
      // "slow" reads part of the log; "fast" reads all of it; an ephemeral consumer is no reader to count.
      for (const durable_name of ['slow', 'fast']) {
        await jsm.consumers.add(STREAM, {
          durable_name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
        });
      }
      await jsm.consumers.add(STREAM, { ack_policy: AckPolicy.Explicit, inactive_threshold: 60e9 });

      // Round 1: 30 entries; slow takes 10 and acks 6 (4 pending, 20 never delivered).
      await Promise.all([sendEvents(a, 15), sendEvents(b, 15)]);
      await read('slow', 10, 6);
      await read('fast', 30, 30);
      const slow = await consumerInfo('slow');
      expect(slow.ack_floor.stream_seq).toBe(6);
      expect(slow.num_ack_pending).toBe(4);
      expect(slow.num_pending).toBe(20);
      const fast = await consumerInfo('fast');
      expect(fast.ack_floor.stream_seq).toBe(30);
      expect(fast.num_pending + fast.num_ack_pending).toBe(0);
      const unread1 = slow.num_pending + slow.num_ack_pending;
      await seen('slow', 6, 1);
      await expired(30);

      const instances = [a, b];
      await until(
        () => total(instances, 'cbsa_retention_deleted_unread_total'),
        (n) => n >= unread1,
      );
      // A few more polls of both: nothing is counted twice, and read entries are not counted.
      await sleep(3000);
      expect(await total(instances, 'cbsa_retention_deleted_unread_total')).toBe(unread1);
      expect(await total(instances, 'cbsa_retention_deleted_total')).toBe(30);
      const warned = [...a.service.lines(), ...b.service.lines()].filter((l) => /had not read/.test(l.msg));
      // NATS may delete the round in more than one step: one warning per step, naming slow only.
      expect(warned.reduce((sum, l) => sum + Number(l.unread), 0)).toBe(unread1);
      for (const l of warned) expect(l.consumers).toEqual({ slow: l.unread });

      // A restart: the new instance does not count round 1 again.
      await Promise.all([a.stop(), b.stop()]);
      a = await Instance.start(env());
      await sleep(3000);
      expect(await metric(a, 'cbsa_retention_deleted_unread_total')).toBe(0);

      // Round 2: 10 entries nobody but fast reads, deleted while no instance runs; counted on the next start.
      await sendEvents(a, 10);
      await read('fast', 10, 10);
      await until(
        async () => (await consumerInfo('slow')).num_pending,
        (n) => n === 10,
      );
      await a.stop();
      await expired(40);
      b = await Instance.start(env());
      await until(
        () => metric(b, 'cbsa_retention_deleted_unread_total'),
        (n) => n >= 10,
      );
      await sleep(2000);
      expect(await metric(b, 'cbsa_retention_deleted_unread_total')).toBe(10);
      expect(await metric(b, 'cbsa_retention_deleted_total')).toBe(10);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 120_000);

  it('counts nothing when no durable consumer exists (nobody has anything unread)', async () => {
    for (const name of ['slow', 'fast']) await jsm.consumers.delete(STREAM, name);
    const a = await Instance.start(env());
    try {
      const last = (await jsm.streams.info(STREAM)).state.last_seq;
      await sendEvents(a, 5);
      await expired(last + 5);
      await until(
        () => metric(a, 'cbsa_retention_deleted_total'),
        (n) => n === 5,
      );
      expect(await metric(a, 'cbsa_retention_deleted_unread_total')).toBe(0);
    } finally {
      await a.stop();
    }
  }, 60_000);
});

describeWithNats('Retention on NATS within the example permissions (system)', () => {
  it('counts as user cbsa, with no permission violation', async () => {
    const server = await NatsServer.start({
      config: join(PACKAGE_ROOT, 'deploy', 'acl', 'nats-server.conf'),
    });
    const reader = await connect(
      natsCredentials([`nats://cbsa-reader:change-me-reader-password@127.0.0.1:${server.port}`]),
    );
    try {
      const a = await Instance.start({
        SINK: 'nats',
        NATS_URL: `nats://cbsa:change-me-service-password@127.0.0.1:${server.port}`,
        RETENTION_MAX_AGE_S: '3',
        NATS_MAX_AGE_S: '3',
        NATS_DUPLICATE_WINDOW_S: '1',
      });
      try {
        await (
          await jetstreamManager(reader)
        ).consumers.add(STREAM, {
          durable_name: 'reader',
          ack_policy: AckPolicy.Explicit,
        });
        await sendEvents(a, 7);
        await until(
          () => metric(a, 'cbsa_retention_deleted_unread_total'),
          (n) => n === 7,
          15_000,
        );
      } finally {
        await a.stop();
      }
      expect(server.log.split('\n').filter((line) => /Violation/i.test(line))).toEqual([]);
    } finally {
      await reader.close();
      await server.dispose();
    }
  }, 60_000);
});
