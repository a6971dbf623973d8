// One load thread of the monitor-cost scenario (bench/monitor-cost.mjs). Roles:
//   paced     ingest connections sending at a fixed total rate (open loop, not as fast as acks
//             come back), so every configuration is measured at the same events per second
//   monitors  monitor sockets with a query (?sample=300, or none for the full stream) that count
//             the events they receive and what the samples stood for
// Commands from the parent: measure (start the window), report (end it, send figures), stop.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { framePool } from './frames.mjs';

const { role, url, connections, rate = 0, query = '', index = 0 } = workerData;
const TICK_MS = 5;
/** Unacked frames per connection at most: when the server falls behind, the rate reached drops. */
const MAX_IN_FLIGHT = 64;
const clientOptions = { perMessageDeflate: false, generateMask: (mask) => mask.fill(0) };

const sockets = [];
let measuring = false;
let windowStart = 0;

function open(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + path, clientOptions);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// --- paced ingest --------------------------------------------------------------------------------

let acks = 0;
let errors = 0;
let sent = 0;
/** Frames the schedule asked for that could not go out (every connection at MAX_IN_FLIGHT). */
let behind = 0;

async function startPaced() {
  const conns = [];
  for (let i = 0; i < connections; i++) {
    const ws = await open('/ws/behaviour');
    ws.on('error', () => undefined);
    sockets.push(ws);
    const conn = { ws, pool: framePool(0, index * 1000 + i), next: 0, inFlight: 0 };
    ws.on('message', (data) => {
      conn.inFlight--;
      if (!measuring) return;
      // {"status":"received",... is an ack; anything else is an error reply.
      if (data[11] === 0x72) acks++;
      else errors++;
    });
    conns.push(conn);
  }
  const started = performance.now();
  let scheduled = 0;
  let rr = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - scheduled;
    for (let k = 0; k < due; k++) {
      scheduled++;
      let sentOne = false;
      for (let tries = 0; tries < conns.length; tries++) {
        const conn = conns[rr];
        rr = (rr + 1) % conns.length;
        if (conn.inFlight >= MAX_IN_FLIGHT || conn.ws.readyState !== WebSocket.OPEN) continue;
        conn.inFlight++;
        conn.ws.send(conn.pool[conn.next++ % conn.pool.length], { binary: false });
        if (measuring) sent++;
        sentOne = true;
        break;
      }
      if (!sentOne && measuring) behind++;
    }
  }, TICK_MS);
  return () => clearInterval(timer);
}

// --- monitors ------------------------------------------------------------------------------------

const EVENTS_PREFIX = Buffer.from('{"type":"events"');
const EVENT_MARK = Buffer.from('{"message_id":');
const SAMPLED_FROM = Buffer.from('"sampled_from":');
const monitorStats = [];

async function startMonitors() {
  let next = 0;
  const opener = async () => {
    while (next < connections) {
      next++;
      const ws = await open(`/ws/monitor${query}`);
      ws.on('error', () => undefined);
      sockets.push(ws);
      const stats = { frames: 0, events: 0, sampledFrom: 0 };
      monitorStats.push(stats);
      ws.on('message', (data) => {
        if (!measuring || !data.subarray(0, EVENTS_PREFIX.length).equals(EVENTS_PREFIX)) return;
        stats.frames++;
        // Counting event heads is enough (bench frames never contain this text), and far cheaper
        // than parsing on a machine the server shares.
        for (let at = data.indexOf(EVENT_MARK); at !== -1; at = data.indexOf(EVENT_MARK, at + 1)) {
          stats.events++;
        }
        const at = data.subarray(0, 64).indexOf(SAMPLED_FROM);
        if (at !== -1)
          stats.sampledFrom += parseInt(data.toString('latin1', at + SAMPLED_FROM.length, at + 40), 10);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(50, connections) }, opener));
}

// --- control -------------------------------------------------------------------------------------

let stopPacing = () => undefined;
parentPort.on('message', (msg) => {
  if (msg.cmd === 'measure') {
    acks = errors = sent = behind = 0;
    for (const s of monitorStats) Object.assign(s, { frames: 0, events: 0, sampledFrom: 0 });
    windowStart = performance.now();
    measuring = true;
  } else if (msg.cmd === 'report') {
    measuring = false;
    const seconds = (performance.now() - windowStart) / 1000;
    parentPort.postMessage({ type: 'report', seconds, acks, errors, sent, behind, monitors: monitorStats });
  } else if (msg.cmd === 'stop') {
    stopPacing();
    for (const ws of sockets) ws.terminate();
    parentPort.close();
  }
});

try {
  if (role === 'paced') stopPacing = await startPaced();
  else await startMonitors();
  parentPort.postMessage({ type: 'ready', open: sockets.length });
} catch (err) {
  parentPort.postMessage({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
}
