// SINK=nats against a private `nats-server -js` per suite: acks only after the PubAck, the log read
// back (headers, data as sent, Nats-Msg-Id, no duplicates), stream setup and refusals, outages,
// kill -9 and SIGTERM under load, metrics, and the example consumer. Services run from the
// production build, as in production.
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { nanos, connect } from '@nats-io/transport-node';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/env.js';
import { Instance } from '../harness/instance.mjs';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats, readLog } from './support/nats.js';
import { type Reply, ResumableClient } from './support/resumable-client.js';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';
import { sleep, until } from '../harness/wait.mjs';

type Ack = Reply;

const UNAVAILABLE = { status: 'error', message: 'Service unavailable' };
const NUM = expect.any(Number) as unknown;

/** A SINK=nats instance. Generous: on a loaded CI machine a production boot can take a while. */
function startInstance(env: Record<string, string>): Promise<Instance> {
  return Instance.start({ SINK: 'nats', ...env });
}

/** Starts a service that must refuse to start; its exit code and stderr. */
async function refusal(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const service = new Service({ SINK: 'nats', ...env });
  const code = await service.exited;
  return { code, stderr: service.stderr };
}

/** N clients sending `{"n":k}` as fast as acks allow, until stopped or the service dies. */
function load(instance: Instance, clients: WsClient[], max: number) {
  const acked = new Map<number, string>();
  const replies: Ack[] = [];
  let sent = 0;
  let stopped = false;
  clients.forEach((c) =>
    c.socket.on('message', (d: Buffer) => {
      const ack = JSON.parse(d.toString()) as Ack;
      replies.push(ack);
      if (ack.status === 'received') acked.set(ack.message_id!, '');
    }),
  );
  const done = (async () => {
    const alive = () => instance.service.proc.exitCode === null && instance.service.proc.signalCode === null;
    while (!stopped && sent < max && alive()) {
      for (const c of clients) {
        for (let i = 0; i < 50 && sent < max; i++, sent++) {
          if (c.socket.readyState === c.socket.OPEN) c.send(`{"n":${sent},"event_type":"tap"}`);
        }
      }
      await sleep(5);
    }
  })();
  return {
    acked,
    replies,
    sent: () => sent,
    stop: async () => {
      stopped = true;
      await done;
    },
    done,
  };
}

describeWithNats('SINK=nats (e2e)', () => {
  let nats: NatsServer;

  beforeAll(async () => {
    nats = await NatsServer.start();
  });

  afterAll(async () => {
    await nats.dispose();
  });

  it('acks each event after its PubAck; the log holds it once, data as sent, metadata in headers', async () => {
    const stream = 'ACKS';
    const instance = await startInstance({
      NATS_URL: nats.url,
      NATS_STREAM: stream,
      NATS_SUBJECT: 'acks.events',
    });
    try {
      const client = await WsClient.open(instance.ws());
      const frames = [
        '{"event_type":"tap","user_id":"u1","x":1}',
        '{"event_type":"swipe", "nested":{"a":[1,2,{"__proto__":1}]}}',
        '[1,2,3]',
      ];
      const acks: Ack[] = [];
      for (const frame of frames) {
        client.send(frame);
        acks.push(await client.nextJson<Ack>());
      }
      client.send('{"broken"');
      expect(await client.nextJson()).toEqual({ status: 'error', message: 'Malformed JSON' });
      for (const ack of acks) {
        expect(ack).toEqual({
          status: 'received',
          server_timestamp: expect.any(Number) as unknown,
          message_id: expect.any(Number) as unknown,
        });
      }
      const log = await readLog(nats.url, stream);
      expect(log.map((e) => e.data)).toEqual(frames);
      const instanceId = log[0].headers['Nats-Msg-Id'].split(':')[0];
      expect(log.map((e) => e.headers)).toEqual(
        acks.map((ack, i) => ({
          message_id: String(ack.message_id),
          client_id: expect.stringMatching(/^[A-Za-z0-9_-]{8}$/) as unknown,
          server_timestamp: ack.server_timestamp!.toFixed(3),
          category: ['touch', 'gesture', 'other'][i],
          // Provenance: empty under static tokens (JWT mode: the token's sub and kid).
          sub: '',
          kid: '',
          'Nats-Msg-Id': `${instanceId}:${ack.message_id}`,
        })),
      );
      // A fresh client is served right after the malformed frame.
      const fresh = await WsClient.open(instance.ws());
      fresh.send('{"event_type":"key"}');
      expect((await fresh.nextJson<Ack>()).status).toBe('received');
      client.close();
      fresh.close();
      const metrics = await instance.metrics();
      expect(metrics).toMatch(/^cbsa_nats_publish_latency_seconds_count 4$/m);
      expect(metrics).toMatch(/^cbsa_nats_publish_errors_total 0$/m);
      expect(metrics).toMatch(/^cbsa_nats_duplicates_total 0$/m);
    } finally {
      await instance.stop();
    }
  }, 90_000);

  it('creates the stream with file storage and the configured limits, and reuses it on restart', async () => {
    const env = {
      NATS_URL: nats.url,
      NATS_STREAM: 'SETUP',
      NATS_SUBJECT: 'setup.events',
      NATS_DUPLICATE_WINDOW_S: '60',
      NATS_MAX_AGE_S: '3600',
      STREAM_STATE_TTL_S: '600',
    };
    const first = await startInstance(env);
    await first.stop();
    const second = await startInstance(env);
    await second.stop();
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const { config } = await jsm.streams.info('SETUP');
      expect({
        subjects: config.subjects,
        storage: config.storage,
        retention: config.retention,
        replicas: config.num_replicas,
        duplicate_window: config.duplicate_window,
        max_age: config.max_age,
      }).toEqual({
        subjects: ['setup.events'],
        storage: 'file',
        retention: 'limits',
        replicas: 1,
        duplicate_window: nanos(60_000),
        max_age: nanos(3_600_000),
      });
      const kv = await jsm.streams.info('KV_SETUP_streams');
      expect({ storage: kv.config.storage, max_age: kv.config.max_age }).toEqual({
        storage: 'file',
        max_age: nanos(600_000),
      });
    } finally {
      await nc.close();
    }
  }, 90_000);

  it('refuses to start when the stream exists with incompatible settings, saying what differs', async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'WRONG',
      subjects: ['wrong.events'],
      storage: StorageType.Memory,
      duplicate_window: nanos(10_000),
    });
    await nc.close();
    const { code, stderr } = await refusal({
      NATS_URL: nats.url,
      NATS_STREAM: 'WRONG',
      NATS_SUBJECT: 'other.events',
    });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      'CBSA failed to start: NATS stream "WRONG" exists with settings this service cannot use: ' +
        'its subjects ["wrong.events"] do not include NATS_SUBJECT="other.events"; ' +
        'its storage is "memory" (needs "file": memory storage is lost on restart); ' +
        'its duplicate window is 10 s (NATS_DUPLICATE_WINDOW_S=120). ' +
        'Change the NATS_* settings to match, or update or remove the stream (nats stream edit/rm).',
    );
  }, 90_000);

  it('refuses to start when the stream has limits that delete acked events, unless NATS_ALLOW_LIMITS=1', async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'LIMITED',
      subjects: ['limited.events'],
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
      max_age: nanos(3_600_000),
      max_msgs_per_subject: 1,
    });
    await nc.close();
    const env = { NATS_URL: nats.url, NATS_STREAM: 'LIMITED', NATS_SUBJECT: 'limited.events' };
    const { code, stderr } = await refusal(env);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      'CBSA failed to start: NATS stream "LIMITED" has limits that can delete acked events before consumers read them: ' +
        'max_msgs_per_subject is 1 (every event is on one subject: older ones are deleted); ' +
        'max_age is 3600 s, shorter than the retention (NATS_MAX_AGE_S=604800). ' +
        'Remove them (nats stream edit), or set NATS_ALLOW_LIMITS=1 to accept the loss.',
    );
    // The operator's opt-in: it starts, says what is at risk, and serves.
    const allowed = await startInstance({ ...env, NATS_ALLOW_LIMITS: '1' });
    try {
      const warning = await allowed.service.waitForLine((l) => /NATS stream limits can delete/.test(l.msg));
      expect(warning.msg).toBe(
        'NATS stream limits can delete acked events (NATS_ALLOW_LIMITS=1): ' +
          'max_msgs_per_subject is 1 (every event is on one subject: older ones are deleted); ' +
          'max_age is 3600 s, shorter than the retention (NATS_MAX_AGE_S=604800)',
      );
      const client = await WsClient.open(allowed.ws());
      client.send('{"event_type":"tap"}');
      expect(await client.nextJson()).toMatchObject({ status: 'received' });
      client.close();
    } finally {
      await allowed.stop();
    }
  }, 90_000);

  it('refuses to start without JetStream, or when NATS is unreachable, and never logs credentials', async () => {
    const plain = await NatsServer.start({ jetstream: false });
    try {
      const noJs = await refusal({ NATS_URL: plain.url });
      expect(noJs.code).toBe(1);
      expect(noJs.stderr).toMatch(
        new RegExp(
          `^CBSA failed to start: NATS at ${plain.url} has no JetStream \\(start nats-server with -js`,
        ),
      );
    } finally {
      await plain.dispose();
    }
    const port = plain.port;
    const unreachable = await refusal({ NATS_URL: `nats://someone:s3cret@127.0.0.1:${port}` });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      new RegExp(`^CBSA failed to start: NATS unreachable at nats://\\[redacted\\]@127.0.0.1:${port}: `),
    );
    expect(unreachable.stderr).not.toContain('s3cret');
    // A password holding an unescaped '@' is a valid URL (the last '@' ends the user info): all of it goes.
    const atSign = await refusal({ NATS_URL: `nats://someone:s3c@ret-TAIL@127.0.0.1:${port}` });
    expect(atSign.code).toBe(1);
    expect(atSign.stderr).toMatch(
      new RegExp(`^CBSA failed to start: NATS unreachable at nats://\\[redacted\\]@127.0.0.1:${port}: `),
    );
    expect(atSign.stderr).not.toContain('TAIL');
  }, 120_000);

  it('connects with NATS_TOKEN to a server that requires it', async () => {
    const guarded = await NatsServer.start({ token: 'tok-123' });
    try {
      const denied = await refusal({ NATS_URL: guarded.url });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/^CBSA failed to start: NATS unreachable at .*: .*(AUTHORIZATION|auth)/i);
      const instance = await startInstance({ NATS_URL: guarded.url, NATS_TOKEN: 'tok-123' });
      const client = await WsClient.open(instance.ws());
      client.send('{"a":1}');
      expect((await client.nextJson<Ack>()).status).toBe('received');
      client.close();
      await instance.stop();
      expect(instance.service.stdout).not.toContain('tok-123');
    } finally {
      await guarded.dispose();
    }
  }, 120_000);

  it.each(['SIGKILL', 'SIGTERM'] as const)(
    'nats-server stopped (%s): "Service unavailable" and ready 503, one warning; back: acks resume, nothing acked is missing',
    async (signal) => {
      const own = await NatsServer.start();
      const instance = await startInstance({ NATS_URL: own.url });
      try {
        const client = await WsClient.open(instance.ws());
        const acked: number[] = [];
        client.send('{"before":1}');
        acked.push((await client.nextJson<Ack>()).message_id!);
        expect((await instance.ready()).status).toBe(200);

        await own.stop(signal);
        const ready = await until(
          () => instance.ready(),
          (r) => r.status === 503,
        );
        expect(ready.body).toMatchObject({ status: 'error', error: { sink: { status: 'down' } } });
        for (let i = 0; i < 3; i++) {
          client.send(`{"during":${i}}`);
          expect(await client.nextJson()).toEqual(UNAVAILABLE);
        }
        await sleep(1500);

        await own.restart();
        await until(
          () => instance.ready(),
          (r) => r.status === 200,
          20_000,
        );
        client.send('{"after":1}');
        const after = await client.nextJson<Ack>();
        expect(after).toEqual({
          status: 'received',
          server_timestamp: expect.any(Number) as unknown,
          message_id: expect.any(Number) as unknown,
        });
        acked.push(after.message_id!);
        const warnings = instance.service.lines().filter((l) => l.level === 40);
        // One warning for the whole outage: the sink's; the ack queue's refusals add none.
        expect(warnings.map((l) => l.msg)).toEqual(['NATS connection lost; retrying']);
        const log = await readLog(own.url);
        expect(log.map((e) => Number(e.headers.message_id))).toEqual(acked);
        client.close();
      } finally {
        await instance.stop();
        await own.dispose();
      }
    },
    90_000,
  );

  it('kill -9 of the service under load: every acked event is in the log, none twice', async () => {
    const own = await NatsServer.start();
    const instance = await startInstance({ NATS_URL: own.url });
    const clients = await Promise.all(Array.from({ length: 10 }, () => WsClient.open(instance.ws())));
    const run = load(instance, clients, 50_000);
    try {
      await until(
        () => Promise.resolve(run.acked.size),
        (n) => n > 1000,
        30_000,
      );
      instance.service.proc.kill('SIGKILL');
      await run.done;
      await instance.service.exited;
      expect(run.sent()).toBeGreaterThan(run.acked.size);
      const log = await readLog(own.url);
      const ids = log.map((e) => Number(e.headers.message_id));
      expect(new Set(ids).size).toBe(ids.length);
      const inLog = new Set(ids);
      expect([...run.acked.keys()].filter((id) => !inLog.has(id))).toEqual([]);
      expect(run.replies.filter((r) => r.status !== 'received')).toEqual([]);
    } finally {
      clients.forEach((c) => c.socket.terminate());
      await own.dispose();
    }
  }, 90_000);

  it('SIGTERM under load: a reply for every frame taken, close 1001, exit 0; the log holds exactly the acked events', async () => {
    const own = await NatsServer.start();
    // The queue must drain within the shutdown timeout even on a loaded machine.
    const instance = await startInstance({
      NATS_URL: own.url,
      SINK_QUEUE_MAX: '2000',
      SHUTDOWN_TIMEOUT_MS: '30000',
    });
    const clients = await Promise.all(Array.from({ length: 5 }, () => WsClient.open(instance.ws())));
    const run = load(instance, clients, 50_000);
    try {
      await until(
        () => Promise.resolve(run.acked.size),
        (n) => n > 1000,
        30_000,
      );
      instance.service.proc.kill('SIGTERM');
      const closes = await Promise.all(clients.map((c) => c.waitClosed(40_000)));
      expect(closes.map((c) => c.code)).toEqual(clients.map(() => 1001));
      expect(await instance.service.exited).toBe(0);
      await run.stop();
      // Events still waiting for a publish slot are refused (never published) rather than stored.
      expect(
        run.replies.filter((r) => r.status !== 'received' && r.message !== 'Service unavailable'),
      ).toEqual([]);
      const log = await readLog(own.url);
      const ids = log.map((e) => Number(e.headers.message_id));
      expect(new Set(ids).size).toBe(ids.length);
      // Every event in the log was acked: nothing stored was left without its reply.
      expect(ids.filter((id) => !run.acked.has(id))).toEqual([]);
      expect(ids.length).toBe(run.acked.size);
    } finally {
      clients.forEach((c) => c.socket.terminate());
      await own.dispose();
    }
  }, 90_000);

  it('resumable streams: Nats-Msg-Id <stream>:<seq>; a resend JetStream holds is "duplicate"; last_seq from KV across restarts', async () => {
    const env = { NATS_URL: nats.url, NATS_STREAM: 'RESUME', NATS_SUBJECT: 'resume.events' };
    const first = await startInstance(env);
    // seq 3 of "phone-1:s1" is already in the log (an earlier publish whose ack was lost) but not in KV.
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish('resume.events', '{"seq":3,"early":true}', { msgID: 'phone-1:s1:3' });
    await nc.close();
    try {
      const client = await WsClient.open(`${first.ws()}?stream=phone-1:s1`);
      expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'phone-1:s1', last_seq: 0 });
      const replies = [];
      for (const seq of [1, 2, 3]) {
        client.send(`{"seq":${seq},"event_type":"tap"}`);
        replies.push(await client.nextJson());
      }
      expect(replies).toEqual([
        { status: 'received', server_timestamp: NUM, message_id: NUM, seq: 1 },
        { status: 'received', server_timestamp: NUM, message_id: NUM, seq: 2 },
        { status: 'duplicate', server_timestamp: NUM, seq: 3 },
      ]);
      client.close();
      expect(await first.metrics()).toMatch(/^cbsa_nats_duplicates_total 1$/m);
    } finally {
      await first.stop();
    }
    const second = await startInstance(env);
    try {
      const client = await WsClient.open(`${second.ws()}?stream=phone-1:s1`);
      expect(await client.nextJson()).toEqual({ type: 'resume', stream: 'phone-1:s1', last_seq: 3 });
      client.send('{"seq":2,"event_type":"tap"}');
      expect(await client.nextJson()).toEqual({
        status: 'duplicate',
        server_timestamp: NUM,
        seq: 2,
      });
      client.send('{"seq":4,"event_type":"tap"}');
      expect(await client.nextJson()).toMatchObject({ status: 'received', seq: 4 });
      client.close();
    } finally {
      await second.stop();
    }
    const log = await readLog(nats.url, 'RESUME');
    expect(log.map((e) => [e.headers['Nats-Msg-Id'], e.headers.stream, e.headers.seq, e.data])).toEqual([
      ['phone-1:s1:3', undefined, undefined, '{"seq":3,"early":true}'],
      ['phone-1:s1:1', 'phone-1:s1', '1', '{"seq":1,"event_type":"tap"}'],
      ['phone-1:s1:2', 'phone-1:s1', '2', '{"seq":2,"event_type":"tap"}'],
      ['phone-1:s1:4', 'phone-1:s1', '4', '{"seq":4,"event_type":"tap"}'],
    ]);
  }, 120_000);

  it('kill -9 mid-load, restart, resume: every acked (stream, seq) in the log exactly once', async () => {
    const own = await NatsServer.start();
    const env = { NATS_URL: own.url };
    let instance = await startInstance(env);
    const clients = Array.from(
      { length: 8 },
      (_, i) => new ResumableClient(() => instance.ws(), `dev-${i}`, 400, 16),
    );
    try {
      const runs = clients.map((c) => c.run(60_000));
      await until(
        () => Promise.resolve(clients.reduce((n, c) => n + c.acked.size, 0)),
        (n) => n > 400,
        30_000,
      );
      instance.service.proc.kill('SIGKILL');
      await instance.service.exited;
      instance = await startInstance(env);
      await Promise.all(runs);
      const log = await readLog(own.url);
      const keys = log.map((e) => `${e.headers.stream}:${e.headers.seq}`);
      expect(keys.length - new Set(keys).size).toBe(0);
      const inLog = new Set(keys);
      const missing = clients.flatMap((c) =>
        [...c.acked.keys()].filter((seq) => !inLog.has(`${c.stream}:${seq}`)),
      );
      expect(missing).toEqual([]);
      expect(log.length).toBe(8 * 400);
      expect(clients.map((c) => c.outOfOrder)).toEqual(clients.map(() => 0));
    } finally {
      clients.forEach((c) => c.stop());
      await instance.stop();
      await own.dispose();
    }
  }, 120_000);

  it('hands acked events to the example consumer: a durable pull consumer with explicit acks', async () => {
    const instance = await startInstance({
      NATS_URL: nats.url,
      NATS_STREAM: 'CONSUMED',
      NATS_SUBJECT: 'consumed.events',
    });
    const client = await WsClient.open(instance.ws());
    try {
      const ids: number[] = [];
      for (const type of ['tap', 'swipe', 'keydown']) {
        client.send(JSON.stringify({ event_type: type, user_id: 'u1' }));
        ids.push((await client.nextJson<Ack>()).message_id!);
      }
      const consumer = spawn(process.execPath, [join(PACKAGE_ROOT, 'examples', 'nats-consumer.mjs')], {
        env: { PATH: process.env.PATH, NATS_URL: nats.url, NATS_STREAM: 'CONSUMED', CONSUMER: 'test' },
      });
      let out = '';
      consumer.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await until(
        () => Promise.resolve(out),
        (o) => ids.every((id) => o.includes(`#${id} `)),
      );
      consumer.kill('SIGTERM');
      expect(await new Promise((resolve) => consumer.once('exit', resolve))).toBe(0);
      expect(out.trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^#${ids[0]} touch from [\\w-]{8} at \\d+\\.\\d{3}: \\{"event_type":"tap","user_id":"u1"\\}$`,
          ),
        ),
        expect.stringMatching(new RegExp(`^#${ids[1]} gesture from [\\w-]{8} at \\d+\\.\\d{3}: `)),
        expect.stringMatching(new RegExp(`^#${ids[2]} keystroke from [\\w-]{8} at \\d+\\.\\d{3}: `)),
      ]);
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.consumers.info('CONSUMED', 'test');
      await nc.close();
      expect({ pending: info.num_pending, unacked: info.num_ack_pending }).toEqual({
        pending: 0,
        unacked: 0,
      });
    } finally {
      client.close();
      await instance.stop();
    }
  }, 90_000);
});
