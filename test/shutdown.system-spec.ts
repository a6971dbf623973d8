// Graceful shutdown of the production build on SIGTERM / SIGINT, and what a shutdown that times out
// does (exit 1, logged at error).
import { connect } from 'node:net';
import type { AckFrame } from '../src/protocol/index.js';
import { closeCode, rawRequest, rawWebSocket, upgradeRequest } from './support/raw-frames.js';
import { Service } from '../harness/service.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const CLIENTS = 5;
const FRAMES = 200;
const ERROR_LEVEL = 50;

type Ack = AckFrame;

describe('Graceful shutdown (e2e)', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    `on %s with ${CLIENTS} clients mid-stream: acks what was received, closes every socket with 1001, exits 0`,
    async (signal) => {
      const service = new Service({ SHUTDOWN_TIMEOUT_MS: '5000' });
      const port = await service.port();
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, () => WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`)),
      );
      const monitor = await WsClient.open(`ws://127.0.0.1:${port}/ws/monitor`);
      for (const [c, client] of clients.entries()) {
        for (let i = 0; i < FRAMES; i++) client.send(`{"c":${c},"i":${i}}`);
      }
      // Every client has been read from; most of their frames are still in flight.
      const firsts = await Promise.all(clients.map((client) => client.nextJson<Ack>()));
      service.proc.kill(signal);

      const perClient = await Promise.all(
        clients.map(async (client, c) => {
          const acks: Ack[] = [firsts[c]];
          const closed = client.waitClosed(5000);
          for (;;) {
            const frame = await Promise.race([client.nextJson<Ack>(), closed]);
            if ('code' in frame) break;
            acks.push(frame);
          }
          return { acks, closed: await closed };
        }),
      );
      expect(perClient.map((p) => p.closed)).toEqual(
        clients.map(() => ({ code: 1001, reason: 'Server shutting down' })),
      );
      expect(await monitor.waitClosed()).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(await service.exited).toBe(0);

      const lines = service.lines();
      expect(lines.map((l) => l.msg)).toContain(`Shutting down (${signal})`);
      expect(lines.filter((l) => l.level >= ERROR_LEVEL)).toEqual([]);
      // One line per endpoint for all its sockets, none per client (100k of them would clog the log).
      const closedLines = lines
        .filter((l) => l.msg.startsWith('Closed '))
        .map(({ level, path, sockets, cut_off }) => ({ level, path, sockets, cut_off }));
      expect(closedLines.toSorted((a, b) => String(a.path).localeCompare(String(b.path)))).toEqual([
        { level: 30, path: '/ws/behaviour', sockets: CLIENTS, cut_off: 0 },
        { level: 30, path: '/ws/monitor', sockets: 1, cut_off: 0 },
      ]);
      expect(lines.filter((l) => /^Client \S+ disconnected/.test(l.msg))).toEqual([]);
      const done = lines.find((l) => l.msg === 'Shutdown complete');
      // Every frame the server took in was acked, in order, before the close frame.
      const acks = perClient.flatMap((p) => p.acks);
      expect(done).toMatchObject({ total_messages: acks.length, total_errors: 0 });
      for (const { acks: own } of perClient) {
        for (const [i, ack] of own.entries()) {
          expect(ack).toEqual({
            status: 'received',
            server_timestamp: expect.any(Number) as unknown,
            message_id: expect.any(Number) as unknown,
          });
          if (i > 0) expect(ack.message_id).toBeGreaterThan(own[i - 1].message_id);
        }
      }
      expect(new Set(acks.map((a) => a.message_id)).size).toBe(acks.length);
    },
  );

  it('reports shutting_down on /health and refuses new upgrades while sockets drain', async () => {
    const service = new Service({ SHUTDOWN_TIMEOUT_MS: '3000' });
    const port = await service.port();
    // A peer that never answers the close frame keeps the server draining for a moment.
    const stubborn = await rawWebSocket(port, '/ws/behaviour');
    stubborn.pause();
    service.proc.kill('SIGTERM');
    await service.waitForLine((l) => l.msg === 'Shutting down (SIGTERM)');

    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'shutting_down', active_connections: 1 });
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ error: { shutdown: { status: 'down' } } });
    const upgrade = await rawRequest(port, upgradeRequest('/ws/behaviour'));
    expect(upgrade.status).toBe(503);
    upgrade.socket.destroy();

    expect(await service.exited).toBe(0);
    // The peer that never read was still sent its close frame before it was cut off.
    expect(await closeCode(stubborn)).toBe(1001);
    stubborn.destroy();
    expect(service.lines().map((l) => l.msg)).toContain('Shutdown complete');
  });

  it('a shutdown that times out logs at error and exits 1', async () => {
    const service = new Service({ SHUTDOWN_TIMEOUT_MS: '1000' });
    const port = await service.port();
    // An HTTP request that never finishes its headers: the HTTP server cannot close around it.
    const hanging = connect(port, '127.0.0.1');
    await new Promise((resolve) => hanging.once('connect', resolve));
    hanging.write('GET /health HTTP/1.1\r\nHost: localhost\r\n');
    hanging.on('error', () => undefined);
    await service.waitForLine(() => true); // the log is flowing; the request is in
    service.proc.kill('SIGTERM');

    expect(await service.exited).toBe(1);
    const lines = service.lines();
    expect(lines.filter((l) => l.level >= ERROR_LEVEL).map(({ level, msg }) => ({ level, msg }))).toEqual([
      { level: ERROR_LEVEL, msg: 'Shutdown timed out; exiting with connections still open' },
    ]);
    expect(lines.map((l) => l.msg)).not.toContain('Shutdown complete');
    hanging.destroy();
  });
});
