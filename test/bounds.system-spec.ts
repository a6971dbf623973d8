// Every resource a client can make the service hold is bounded: the cases that need a service
// process or a broker (the in-process ones are in bounds.e2e-spec.ts). Each pushes past one bound.
import type { Socket } from 'node:net';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats } from './support/nats.js';
import { scrape } from './support/prometheus.js';
import { rawWebSocket } from './support/raw-frames.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { type RunningApp, startApp } from './support/app.js';
import { waitForHealth } from './support/health.js';
import { Service } from '../harness/service.mjs';
import { sleep, until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

describe('Monitors that never read, with a large replay (production build)', () => {
  const MONITORS = 20;
  const BUFFER_BYTES = 1024 * 1024;
  const MiB = 1024 * 1024;

  it('cost at most MONITOR_MAX_BUFFER_BYTES each, replay included', async () => {
    const service = new Service({
      MONITOR_REPLAY: '200',
      MONITOR_MAX_BUFFER_BYTES: String(BUFFER_BYTES),
      MONITOR_SLOW_TIMEOUT_MS: '600000',
      HEARTBEAT_INTERVAL_MS: '0',
    });
    try {
      const port = await service.port();
      const http = `http://127.0.0.1:${port}`;
      // 200 events of 60 KiB fill the replay: 12 MiB, twelve times a monitor's buffer limit.
      const producer = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
      const pad = 'x'.repeat(60 * 1024);
      for (let i = 0; i < 200; i++) producer.send(JSON.stringify({ event_type: 'tap', i, pad }));
      for (let i = 0; i < 200; i++) await producer.nextJson();
      producer.close();
      // One monitor that reads takes the replay in, so it is built before the baseline.
      const reader = await WsClient.open(`ws://127.0.0.1:${port}/ws/monitor`);
      await sleep(500);
      const idle = service.rssMb();
      const sockets: Socket[] = [];
      for (let i = 0; i < MONITORS; i++) {
        const socket = await rawWebSocket(port, '/ws/monitor');
        socket.pause();
        sockets.push(socket);
      }
      await waitForHealth(http, (h) => h.active_monitors === MONITORS + 1);
      await sleep(1000);
      const grown = service.rssMb() - idle;
      // Without the bound each would hold its replay less what the kernel takes: about 8 MiB each.
      // The slack is for the heap's own growth (the monitors' state, a GC not yet run).
      expect(grown).toBeLessThan((MONITORS * 2 * BUFFER_BYTES) / MiB + 24);
      for (const socket of sockets) socket.destroy();
      reader.close();
    } finally {
      await service.stop();
    }
  }, 60_000);
});

/** Opens a resumable connection, checks its resume frame's last_seq and sends `seq`. */
async function resumeAndSend(url: string, stream: string, seq: number): Promise<number> {
  const client = await WsClient.open(`${url}/ws/behaviour?stream=${stream}`);
  const resume = await client.nextJson<{ last_seq: number }>();
  client.send(JSON.stringify({ event_type: 'tap', seq }));
  expect(await client.nextJson()).toMatchObject({ status: 'received', seq });
  client.close();
  await client.waitClosed();
  return resume.last_seq;
}

describeWithRedis('Stream state in Redis, counted without SCAN', () => {
  let redis: RedisServer;
  let running: RunningApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    running = await startApp({ REDIS_URL: redis.url, SINK: 'redis-stream', STREAM_STATE_TTL_S: '1' });
  });
  afterAll(async () => {
    await running.close();
    await redis.stop();
  });

  it('reports cbsa_stream_states, and counts expired streams out', async () => {
    const url = running.ws('');
    for (let i = 0; i < 5; i++) await resumeAndSend(url, `count-${i}:s`, 1);
    // Asked of Redis when scraped, at most every 5 s: the count follows.
    const states = async () => (await scrape(running.http)).get('cbsa_stream_states');
    await until(states, (n) => n === 5, 15_000);
    await until(states, (n) => n === 0, 15_000);
  }, 40_000);
});

describeWithNats('Stream state in the NATS KV bucket, counted', () => {
  let nats: NatsServer;

  beforeAll(async () => {
    nats = await NatsServer.start();
  });
  afterAll(() => nats.dispose());

  it('reports cbsa_stream_states from the bucket', async () => {
    // The production build in a process of its own: an in-process app with SINK=nats keeps Jest
    // from exiting after the file.
    const service = new Service({ NATS_URL: nats.url, SINK: 'nats' });
    try {
      const port = await service.port();
      for (let i = 0; i < 4; i++) await resumeAndSend(`ws://127.0.0.1:${port}`, `kv-${i}:s`, 1);
      const states = async () => (await scrape(`http://127.0.0.1:${port}`)).get('cbsa_stream_states');
      await until(states, (n) => n === 4, 15_000);
    } finally {
      await service.stop();
    }
  }, 60_000);
});
