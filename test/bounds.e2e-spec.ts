// Every resource a client can make the service hold is bounded, in the app in this process (the
// cases that need a service process or a broker are in bounds.system-spec.ts). Each pushes past one bound.
import type { Socket } from 'node:net';
import { type RunningApp, startApp } from './support/app.js';
import { readHealth, waitForHealth } from './support/health.js';
import { closeCode, frame, rawRequest, rawWebSocket, upgradeRequest } from './support/raw-frames.js';
import { scrape } from './support/prometheus.js';
import { sleep } from '../harness/wait.mjs';
import { WsClient, expectServed } from '../harness/ws-client.mjs';

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

describe('Every HTTP response says nosniff (e2e)', () => {
  let running: RunningApp;
  const script = encodeURIComponent('<script>alert(1)</script>:x');

  beforeAll(async () => {
    running = await startApp({ HTTP_MAX_HEADER_BYTES: '4096' });
  });
  afterAll(() => running.close());

  /** The status and head of a raw request (upgrade or not). */
  async function head(request: string): Promise<{ status: number; head: string }> {
    const res = await rawRequest(running.port, request);
    res.socket.destroy();
    return { status: res.status, head: res.head };
  }
  const get = (path: string, extra = '') =>
    head(`GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`);

  it.each([
    ['/health', 200],
    ['/metrics', 200],
    ['/', 200],
    ['/no-such-page', 404],
    ['/ws/behaviour', 426],
    [`/ws/monitor?filter=${script}`, 400],
  ])('GET %s answers %d with X-Content-Type-Options: nosniff', async (path, status) => {
    const res = await get(path);
    expect(res.status).toBe(status);
    expect(res.head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
  });

  it.each([
    ['an unknown filter', `/ws/monitor?filter=${script}`, 400],
    ['an unknown path', '/ws/nowhere', 404],
  ])('refuses an upgrade with %s (%s) with nosniff', async (_name, path, status) => {
    const res = await head(upgradeRequest(path));
    expect(res.status).toBe(status);
    expect(res.head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
  });

  it('answers what Node refuses itself (431, 400) with nosniff', async () => {
    const big = await get('/health', `X-Padding: ${'p'.repeat(6000)}\r\n`);
    expect(big.status).toBe(431);
    expect(big.head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
    const garbage = await head('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(garbage.head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
    expect((await fetch(`${running.http}/health`)).status).toBe(200);
  });
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

describe('Stream state in memory, bounded by bytes (e2e)', () => {
  let running: RunningApp;
  const id = (i: number) => `install-${String(i).padStart(4, '0')}:${'s'.repeat(180)}`;

  beforeAll(async () => {
    running = await startApp({ STREAM_STATE_MAX_BYTES: String(64 * 1024), MONITOR_FLUSH_MS: '20' });
  });
  afterAll(() => running.close());

  it('forgets the least recently used streams past STREAM_STATE_MAX_BYTES, counted in /metrics and on monitors', async () => {
    const url = running.ws('');
    // About 530 B each: 64 KiB holds about 120 of them.
    for (let i = 0; i < 150; i++) expect(await resumeAndSend(url, id(i), 1)).toBe(0);
    const samples = await scrape(running.http);
    const evictions = samples.get('cbsa_stream_state_evictions_total')!;
    expect(evictions).toBeGreaterThanOrEqual(150 - Math.floor((64 * 1024) / 520));
    expect(evictions).toBeLessThan(150);
    expect(samples.get('cbsa_stream_states')).toBe(150 - evictions);
    // The weakened guarantee, as documented: the first stream is forgotten, a recent one is not.
    expect(await resumeAndSend(url, id(149), 2)).toBe(1);
    expect(await resumeAndSend(url, id(0), 2)).toBe(0);
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    const stats = await monitor.until<{ type: string; state_evictions?: number }>((f) => f.type === 'stats');
    expect(stats.state_evictions).toBe(evictions + 1);
    monitor.close();
  });
});
