// Graceful shutdown of the production build on SIGTERM / SIGINT.
import { rawRequest, rawWebSocket, upgradeRequest } from './support/raw-frames.js';
import { Service } from './support/service.js';
import { TestClient } from './support/ws-client.js';

describe('Graceful shutdown (e2e)', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s: acks what was received, closes every socket with 1001, exits 0',
    async (signal) => {
      const service = new Service({ SHUTDOWN_TIMEOUT_MS: '5000' });
      const port = await service.port();
      const client = await TestClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
      const monitor = await TestClient.open(`ws://127.0.0.1:${port}/ws/monitor`);
      for (let i = 0; i < 200; i++) client.send(`{"i":${i}}`);
      await client.next(); // the server is reading
      service.proc.kill(signal);

      const acks: { status: string; message_id: number }[] = [];
      const closed = client.waitClosed(5000);
      for (;;) {
        const frame = await Promise.race([client.nextJson<{ status: string; message_id: number }>(), closed]);
        if ('code' in frame) break;
        acks.push(frame);
      }
      expect(await closed).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect((await monitor.waitClosed()).code).toBe(1001);
      expect(await service.exited).toBe(0);
      const lines = service.lines().map((l) => l.msg);
      expect(lines).toContain(`Shutting down (${signal})`);
      const done = service.lines().find((l) => l.msg === 'Shutdown complete');
      // Every frame the server took in was acked, in order, before the close frame.
      expect(acks.length + 1).toBe(done?.total_messages);
      acks.forEach((ack, i) => expect(ack).toMatchObject({ status: 'received', message_id: i + 2 }));
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
    stubborn.destroy();
  });
});
