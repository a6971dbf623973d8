// Every resource a client can make the service hold is bounded. Each test pushes past one bound.
import type { Socket } from 'node:net';
import { type RunningApp, startApp } from './support/app.js';
import { readHealth, waitForHealth } from './support/health.js';
import { closeCode, frame, rawWebSocket } from './support/raw-frames.js';
import { sleep } from './support/wait.js';
import { expectServed } from './support/ws-client.js';

const STALL_MS = 1000;
// Acks of FRAMES frames are more than both kernels' socket buffers hold on loopback.
const FRAMES = 100_000;
const SMALL = frame({ opcode: 0x1, payload: '{}' });
/** A 426-byte text frame, as the report's client sent. */
const FRAME = frame({ opcode: 0x1, payload: JSON.stringify({ pad: 'x'.repeat(410) }) });

/** Writes frames until the socket's send blocks (no drain within `ms`) or `max` were written. */
async function sendUntilBlocked(socket: Socket, max: number, ms = 1000): Promise<number> {
  let sent = 0;
  while (sent < max) {
    sent++;
    if (socket.write(FRAME)) continue;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      socket.once('drain', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) break;
  }
  return sent;
}

describe('Clients that never read (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    // The ack queue's own limit is out of reach here (1 GiB), and no heartbeat pings: the only
    // thing that can close a client holding unread acks is the stall watch.
    running = await startApp({
      CLIENT_STALL_TIMEOUT_MS: String(STALL_MS),
      CLIENT_MAX_BUFFER_BYTES: String(1024 ** 3),
      HEARTBEAT_INTERVAL_MS: '0',
    });
  });
  afterAll(() => running.close());

  /**
   * A raw client that sent FRAMES small frames, whose acks (about 7.6 MB) are more than the kernel's
   * buffers on both ends hold, and never reads.
   */
  async function nonReader(): Promise<Socket> {
    const before = (await readHealth(running.http)).total_messages;
    const socket = await rawWebSocket(running.port, '/ws/behaviour');
    socket.pause();
    socket.write(Buffer.concat(Array.from({ length: FRAMES }, () => SMALL)));
    // Every frame was read and acked: the server is not the one that stopped.
    await waitForHealth(running.http, (h) => h.total_messages - before === FRAMES, 20_000);
    return socket;
  }

  it('sends 1008 after CLIENT_STALL_TIMEOUT_MS to a client that stopped reading', async () => {
    const socket = await nonReader();
    await sleep(STALL_MS * 1.5);
    // Reading now finds every ack queued before the close frame, then the 1008.
    expect(await closeCode(socket, 10_000)).toBe(1008);
    socket.destroy();
    await waitForHealth(running.http, (h) => h.active_connections === 0);
    await expectServed(running.ws('/ws/behaviour'));
  });

  it('drops a client that never reads 2 s after its 1008, and /health counts it gone', async () => {
    const socket = await nonReader();
    expect((await readHealth(running.http)).active_connections).toBe(1);
    await waitForHealth(running.http, (h) => h.active_connections === 0, STALL_MS + 2000 + 5000);
    socket.destroy();
    await expectServed(running.ws('/ws/behaviour'));
  });
});

describe('A client whose sends block and that never reads (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ CLIENT_STALL_TIMEOUT_MS: String(STALL_MS), CLIENT_MAX_BUFFER_BYTES: '65536' });
  });
  afterAll(() => running.close());

  it('is closed and dropped: /health active_connections back to 0', async () => {
    const socket = await rawWebSocket(running.port, '/ws/behaviour');
    socket.pause();
    const sent = await sendUntilBlocked(socket, 1_000_000);
    // The server stopped reading before the client stopped sending.
    expect((await readHealth(running.http)).total_messages).toBeLessThan(sent);
    await waitForHealth(running.http, (h) => h.active_connections === 0, STALL_MS + 2000 + 5000);
    socket.destroy();
    await expectServed(running.ws('/ws/behaviour'));
  });
});
