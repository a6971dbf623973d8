// Non-reading monitors with a full replay (docs/hardening.md, "Monitors that do not read"): fills the
// replay with 200 events of 63 KiB, then opens N raw monitors that never read while /health is
// polled every 20 ms. Prints one JSON line: idle and final RSS of the service, the bound
// 1.2 x idle + N x MONITOR_MAX_BUFFER_BYTES, and the slowest /health.
// Usage: npm run build && node bench/monitor-replay.mjs [monitors=100] [MONITOR_MAX_BUFFER_BYTES=4194304]
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { Instance } from '../harness/instance.mjs';
import { HOST } from '../harness/process.mjs';
import { sleep } from '../harness/wait.mjs';
const N = Number(process.argv[2] ?? 100);
const MAXBUF = Number(process.argv[3] ?? 4 * 1024 * 1024);
const svc = await Instance.start(
  {
    MONITOR_REPLAY: '200',
    MONITOR_MAX_BUFFER_BYTES: String(MAXBUF),
    MONITOR_SLOW_TIMEOUT_MS: '600000',
    HEARTBEAT_INTERVAL_MS: '0',
  },
  { until: 'ready', defaults: { HOST, LOG_LEVEL: 'ERROR' } },
);
const port = svc.port;
const rss = () => svc.service.rssMb();
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/behaviour`);
await new Promise((r) => ws.once('open', r));
let acks = 0;
ws.on('message', () => acks++);
const pad = 'x'.repeat(63 * 1024);
for (let i = 0; i < 200; i++) ws.send(JSON.stringify({ event_type: 'tap', i, pad }));
while (acks < 200) await sleep(50);
ws.close();
const reader = new WebSocket(`ws://127.0.0.1:${port}/ws/monitor`);
await new Promise((r) => reader.once('open', r));
await sleep(2000);
const idle = rss();
let maxLatency = 0,
  polls = 0,
  stop = false;
const poller = (async () => {
  while (!stop) {
    const t = performance.now();
    await fetch(`http://127.0.0.1:${port}/health`);
    const d = performance.now() - t;
    polls++;
    if (d > maxLatency) maxLatency = d;
    await sleep(20);
  }
})();
const sockets = [];
const key = () => randomBytes(16).toString('base64');
for (let i = 0; i < N; i++) {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write(
    `GET /ws/monitor HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  s.pause();
  sockets.push(s);
}
await sleep(5000);
stop = true;
await poller;
const after = rss();
const h = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
console.log(
  JSON.stringify({
    monitors: N,
    max_buffer_mib: MAXBUF / 2 ** 20,
    active_monitors: h.active_monitors,
    idle_rss_mib: +idle.toFixed(1),
    rss_mib: +after.toFixed(1),
    bound_mib: +(1.2 * idle + (N * MAXBUF) / 2 ** 20).toFixed(1),
    health_max_ms: +maxLatency.toFixed(1),
    health_polls: polls,
  }),
);
for (const s of sockets) s.destroy();
reader.close();
await svc.kill('SIGKILL');
