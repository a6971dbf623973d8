// The service on brokers that grant it only what deploy/acl/ allows: the example Redis ACL users
// and NATS permissions are loaded as they stand, and the service must work within them, with not
// one command or subject refused.
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/env.js';
import { type RunningApp, startApp } from './support/app.js';
import { scrape } from './support/prometheus.js';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats, readLog } from './support/nats.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { Service } from '../harness/service.mjs';
import { until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const ACL_DIR = join(PACKAGE_ROOT, 'deploy', 'acl');

/** Exercises what the service does with a broker: resumable streams, resume, a monitor, stats. */
async function exercise(running: Pick<RunningApp, 'ws' | 'http'>): Promise<void> {
  const monitor = await WsClient.open(running.ws('/ws/monitor'));
  for (const stream of ['acl-1:s', 'acl-2:s']) {
    for (let round = 0; round < 2; round++) {
      const client = await WsClient.open(running.ws(`/ws/behaviour?stream=${stream}`));
      expect(await client.nextJson()).toEqual({ type: 'resume', stream, last_seq: round * 5 });
      for (let seq = round * 5 + 1; seq <= round * 5 + 5; seq++) {
        client.send(JSON.stringify({ seq, event_type: 'tap' }));
        expect(await client.nextJson()).toMatchObject({ status: 'received', seq });
      }
      client.send(JSON.stringify({ seq: 1, event_type: 'tap' }));
      expect(await client.nextJson()).toMatchObject({ status: 'duplicate', seq: 1 });
      client.close();
      await client.waitClosed();
    }
  }
  await monitor.until((f) => f.type === 'events' && (f.events as unknown[]).length > 0);
  await monitor.until((f) => f.type === 'stats' && f.total_messages === 20);
  monitor.close();
  // The state count is asked of the broker when scraped.
  await until(
    async () => (await scrape(running.http)).get('cbsa_stream_states'),
    (n) => n === 2,
    15_000,
  );
}

describeWithRedis('Redis with the example ACL users (system)', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url);
    // An administrator for the test itself, then the example file's users as they stand.
    await admin.call('ACL', 'SETUSER', 'test-admin', 'on', '>test-admin-password', '~*', '&*', '+@all');
    await admin.call('AUTH', 'test-admin', 'test-admin-password');
    for (const line of readFileSync(join(ACL_DIR, 'redis-users.acl'), 'utf8').split('\n')) {
      if (!line.startsWith('user ')) continue;
      const [, name, ...rules] = line.trim().split(/\s+/);
      await admin.call('ACL', 'SETUSER', name, 'reset', ...rules);
    }
    await admin.call('ACL', 'LOG', 'RESET');
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  it('serves resumable streams, monitors and the sink as user cbsa, with nothing refused', async () => {
    const url = `redis://cbsa:change-me-service-password@127.0.0.1:${server.port}`;
    const running = await startApp({
      REDIS_URL: url,
      SINK: 'redis-stream',
      STREAM_MAXLEN: '10',
      MONITOR_FLUSH_MS: '20',
    });
    try {
      await exercise(running);
      // Retention (every 2 s) trims the log towards STREAM_MAXLEN: its commands are allowed too.
      await until(
        () => admin.xlen('cbsa:stream'),
        (n) => n <= 10,
        10_000,
      );
      expect((await fetch(`${running.http}/health/ready`)).status).toBe(200);
    } finally {
      await running.close();
    }
    // Every refusal, as "command hgetall" or "key cbsa:x": none.
    const log = (await admin.call('ACL', 'LOG')) as (string | number)[][];
    expect(log.map((e) => `${e[e.indexOf('reason') + 1]} ${e[e.indexOf('object') + 1]}`)).toEqual([]);
    // The reader reads the log; it cannot write to it, nor read anything else.
    const reader = new Redis(`redis://cbsa-reader:change-me-reader-password@127.0.0.1:${server.port}`);
    try {
      expect((await reader.xrange('cbsa:stream', '-', '+')).length).toBeGreaterThan(0);
      await expect(reader.xadd('cbsa:stream', '*', 'forged', '1')).rejects.toThrow(/NOPERM/);
      await expect(reader.get('cbsa:seq:acl-1:s')).rejects.toThrow(/NOPERM/);
    } finally {
      reader.disconnect();
    }
    // The service's user cannot reach past its prefix or administer the server.
    const service = new Redis(url);
    try {
      await expect(service.get('other:key')).rejects.toThrow(/NOPERM/);
      await expect(service.call('CONFIG', 'SET', 'maxmemory', '1')).rejects.toThrow(/NOPERM/);
      await expect(service.call('KEYS', '*')).rejects.toThrow(/NOPERM/);
    } finally {
      service.disconnect();
    }
  }, 60_000);
});

describeWithNats('NATS with the example accounts and permissions (system)', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await NatsServer.start({ config: join(ACL_DIR, 'nats-server.conf') });
  });
  afterAll(() => server.dispose());

  it('serves resumable streams, monitors and the sink as user cbsa, with no permission violation', async () => {
    // The production build in a process of its own: an in-process app with SINK=nats keeps Jest
    // from exiting after the file.
    const service = new Service({
      NATS_URL: `nats://cbsa:change-me-service-password@127.0.0.1:${server.port}`,
      SINK: 'nats',
      MONITOR_FLUSH_MS: '20',
    });
    try {
      const port = await service.port();
      const running = {
        http: `http://127.0.0.1:${port}`,
        ws: (path: string) => `ws://127.0.0.1:${port}${path}`,
      };
      await exercise(running);
      expect((await fetch(`${running.http}/health/ready`)).status).toBe(200);
    } finally {
      await service.stop();
    }
    expect(server.log.split('\n').filter((line) => /Violation/i.test(line))).toEqual([]);
    const entries = await readLog(`nats://cbsa-reader:change-me-reader-password@127.0.0.1:${server.port}`);
    expect(entries.length).toBe(20);
  }, 60_000);
});
