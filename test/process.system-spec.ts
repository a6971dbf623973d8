// The production entry point (dist/main.js, built by `npm test`'s pretest): startup validation,
// the .env file, and what reaches the logs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../harness/process.mjs';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';

describe('dist/main.js (e2e)', () => {
  it.each([
    [{ PORT: 'abc' }, 'CBSA failed to start: Invalid PORT="abc": expected an integer from 0 to 65535'],
    [
      { LOG_LEVEL: 'loud' },
      'Invalid LOG_LEVEL="loud": expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL',
    ],
    [{ MONITOR_BATCH_MAX: '0' }, 'Invalid MONITOR_BATCH_MAX="0": expected an integer from 1 to 100000'],
    [
      { WORKERS: '2' },
      'Invalid WORKERS="2": expected 1 unless REDIS_URL is set: without the Redis bus each monitor would see only its own worker\'s events',
    ],
  ])('stops on invalid config %j with a message naming the variable', async (env, message) => {
    const service = new Service(env);
    expect(await service.exited).toBe(1);
    expect(service.stderr).toContain(message);
  });

  it('names every invalid variable at once, and no secret', async () => {
    const service = new Service({
      PORT: 'abc',
      REDIS_URL: 'redis:/admin:pa@ss-SECRET@cache:6379',
      NATS_URL: 'nats://u:n@ts-SECRET@n1:4222,bogus',
      MONITOR_TOKEN: 'SECRET-short',
      WEBSOCKET_ENDPOINT: '/health',
    });
    expect(await service.exited).toBe(1);
    expect(service.stderr).toBe(
      [
        'CBSA failed to start: Invalid PORT="abc": expected an integer from 0 to 65535',
        'Invalid WEBSOCKET_ENDPOINT="/health": expected a path that hides no HTTP route (not /, /health, /metrics, /event-flow-map, /openapi.json, /config.json, /vendor, /favicon.svg, /index.html, /js, /monitor.css or below them)',
        'Invalid REDIS_URL="[redacted]@cache:6379": expected a URL such as redis://127.0.0.1:6379/0',
        'Invalid NATS_URL="nats://[redacted]@n1:4222,bogus": expected comma-separated URLs such as nats://127.0.0.1:4222',
        'Invalid MONITOR_TOKEN=[redacted]: expected a token of at least 16 characters (ALLOW_WEAK_TOKENS=1 allows a shorter one for development)',
        '',
      ].join('\n'),
    );
    expect(service.stdout).toBe('');
  });

  it('logs a Redis URL without its password, even one holding an unescaped "@"', async () => {
    const closed = await freePort();
    const service = new Service({ REDIS_URL: `redis://admin:p@ss-SECRET@127.0.0.1:${closed}/0` });
    try {
      const line = await service.waitForLine((l) => l.msg === 'Redis unreachable; retrying');
      expect(line.redis).toBe(`redis://[redacted]@127.0.0.1:${closed}/0`);
      expect(service.stdout + service.stderr).not.toContain('SECRET');
    } finally {
      await service.stop();
    }
  });

  it.each([
    ['not JSON', '{"version":1,', 'not JSON'],
    [
      'an edge to an unknown node',
      JSON.stringify({
        version: 1,
        nodes: [{ id: 'client', label: 'C', kind: 'source' }],
        edges: [{ from: 'client', to: 'ghost' }],
      }),
      'edge client -> ghost refers to unknown node "ghost"',
    ],
  ])('stops on a flow map that is %s, saying what is wrong', async (_name, text, message) => {
    const file = join(mkdtempSync(join(tmpdir(), 'cbsa-map-')), 'map.json');
    writeFileSync(file, text);
    const service = new Service({ FLOW_MAP_FILE: file });
    expect(await service.exited).toBe(1);
    expect(service.stderr).toContain(`Invalid event flow map ${file}: ${message}`);
  });

  it('exits on SIGTERM when the reader of its log is gone (EPIPE on stdout)', async () => {
    const service = new Service({});
    const port = await service.port();
    const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
    client.send('{"n":1}');
    expect((await client.nextJson()).status).toBe('received');
    client.close();
    await service.waitForLine((l) => l.msg.includes('disconnected'));
    // The log reader dies: the shutdown's own lines are the first writes to meet EPIPE, and the
    // exit follows them at once (no client to wait for).
    service.proc.stdout.destroy();
    service.proc.kill('SIGTERM');
    const deadline = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref());
    expect(await Promise.race([service.exited, deadline])).toBe(0);
  });

  it('logs connects at info and each message at debug with its ids, never the frame body', async () => {
    const service = new Service({ LOG_LEVEL: 'debug' });
    try {
      const port = await service.port();
      const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`, {
        headers: { 'User-Agent': 'cbsa-test/1.0' },
      });
      client.send('{"user_id":"user123","session_id":"session_abc","secret":"BODY-MARKER-1"}');
      const { message_id } = await client.nextJson<{ message_id: number }>();
      client.send('['.repeat(100_000) + ']'.repeat(100_000));
      expect((await client.nextJson()).status).toBe('received');
      client.send('BODY-MARKER-2 is not json');
      expect(await client.nextJson()).toEqual({ status: 'error', message: 'Malformed JSON' });
      client.close();

      const connected = await service.waitForLine((l) => l.msg.includes('connected') && 'user_agent' in l);
      expect(connected).toMatchObject({
        level: 30,
        client_id: expect.any(String) as unknown,
        remote_address: expect.stringContaining('127.0.0.1') as unknown,
        user_agent: 'cbsa-test/1.0',
      });
      const clientId = connected.client_id as string;
      const received = await service.waitForLine((l) => l.message_id === message_id);
      expect(received).toMatchObject({
        level: 20,
        msg: `Received message #${message_id} from user user123 (session: session_abc, client: ${clientId})`,
        message_id,
        user_id: 'user123',
        session_id: 'session_abc',
        client_id: clientId,
      });
      await service.waitForLine((l) => l.msg.includes('disconnected') && l.client_id === clientId);
      // Stopped first, so everything it wrote (shutdown lines too) is in, on both streams.
      await service.stop();
      expect(`${service.stdout}\n${service.stderr}`).not.toContain('BODY-MARKER');
    } finally {
      await service.stop();
    }
  });

  it('reads a .env file, logs a summary at info every 10 s while traffic flows, and no debug lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbsa-env-'));
    writeFileSync(join(dir, '.env'), 'APP_NAME=Dotenv CBSA\nLOG_LEVEL=INFO\n');
    const service = new Service({}, { cwd: dir });
    try {
      const port = await service.port();
      const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
      for (let i = 0; i < 5; i++) client.send(`{"i":${i}}`);
      client.send('nope');
      for (let i = 0; i < 6; i++) await client.next();
      const summary = await service.waitForLine((l) => 'messages_per_second' in l, 15_000);
      expect(summary).toMatchObject({
        level: 30,
        app: 'Dotenv CBSA',
        messages: 5,
        errors: 1,
        messages_per_second: 0.5,
        clients: 1,
      });
      client.close();
      expect(service.lines().filter((l) => l.level < 30)).toEqual([]);
    } finally {
      await service.stop();
    }
  }, 30_000);

  it('keeps tokens out of the logs: query strings are redacted', async () => {
    const service = new Service({
      LOG_LEVEL: 'debug',
      INGEST_TOKENS: 'tok-SECRET-1-abcdef',
      MONITOR_TOKEN: 'mon-SECRET-2-abcdef',
    });
    try {
      const port = await service.port();
      const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour?token=tok-SECRET-1-abcdef`);
      client.send('{}');
      await client.next();
      const monitor = await WsClient.open(`ws://127.0.0.1:${port}/ws/monitor?token=mon-SECRET-2-abcdef`);
      expect((await fetch(`http://127.0.0.1:${port}/health?token=tok-SECRET-1-abcdef`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/ws/monitor?token=wrong-SECRET-3`)).status).toBe(401);
      client.close();
      monitor.close();
      const request = await service.waitForLine(
        (l) => (l.req as { url?: string } | undefined)?.url === '/health?[redacted]',
      );
      expect(request.level).toBe(30);
      await service.waitForLine((l) => l.msg.includes('disconnected') && 'code' in l);
      await service.stop();
      expect(`${service.stdout}\n${service.stderr}`).not.toContain('SECRET');
    } finally {
      await service.stop();
    }
  });
});
