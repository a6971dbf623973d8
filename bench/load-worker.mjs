// One load-generator thread, started by bench/run.mjs. Roles:
//   ingest   connections that each keep `inFlight` frames unacked, timing every ack; `resumable`
//            ones open with ?stream=<id>, wait for the resume frame and number their frames (seq)
//   monitor  monitor sockets that count the events frames they receive
//   idle     connections that open and then say nothing
// The parent sends {cmd:'measure'} to start the measured window, {cmd:'report'} to end it and get
// the figures, and {cmd:'stop'} to close everything.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { framePool } from './frames.mjs';

const { role, url, connections, inFlight = 1, malformedRatio = 0, resumable = false, index = 0 } = workerData;
const CONNECT_CONCURRENCY = 100;

// An all-zero mask makes ws skip masking on the client: the server still unmasks every frame, but
// the load generator, which shares the two cores with the server, spends less per frame.
const clientOptions = {
  perMessageDeflate: false,
  generateMask: (mask) => mask.fill(0),
};

const sockets = [];
let measuring = false;
let windowStart = 0;

/** Frames that arrived before the socket's role took it over (see open()). */
const early = new WeakMap();

function open(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + path, clientOptions);
    // A frame the server sends as it accepts (a resume frame) can come with the upgrade response and
    // be emitted before the code after `await open()` runs: keep it for the role's handler.
    const kept = [];
    const keep = (data) => kept.push(data);
    early.set(ws, { kept, keep });
    ws.on('message', keep);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Hands the socket to `onMessage`, first with the frames kept since it opened. */
function takeOver(ws, onMessage) {
  const { kept, keep } = early.get(ws);
  ws.off('message', keep);
  ws.on('message', onMessage);
  for (const data of kept) onMessage(data);
}

/** Opens `count` sockets (`path`: a string, or the i-th socket's path) with at most CONNECT_CONCURRENCY handshakes at a time. */
async function openMany(count, path, onOpen) {
  let next = 0;
  const opener = async () => {
    while (next < count) {
      const i = next++;
      const ws = await open(typeof path === 'function' ? path(i) : path);
      ws.on('error', () => undefined);
      sockets.push(ws);
      onOpen?.(ws, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, opener));
}

// --- ingest -------------------------------------------------------------------------------------

let acks = 0;
let errorAcks = 0;
let closed = 0;
let stopping = false;
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;

function recordLatency(ms) {
  if (latencyCount === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[latencyCount++] = ms;
}

// Only {"status":"received",... (and, to a resumable client, {"status":"duplicate",...) counts as an
// ack; any other reply ({"status":"error",...) is an error reply, counted apart, so a server that
// answers every frame with an error acks nothing.
const RECEIVED_BYTE = 'r'.charCodeAt(0);
const DUPLICATE_BYTE = 'd'.charCodeAt(0);
const STATUS_AT = '{"status":"'.length;
const RESUME_PREFIX = Buffer.from('{"type":"resume"');

/** A unique stream id per connection (one server and broker per run, but ids never need to clash). */
const streamId = (i) => `bench-${process.pid}-${index}-${i}`;

function startIngest(ws, i) {
  const pool = framePool(malformedRatio, index * 1000 + i);
  // A resumable frame is the pool's frame with "seq" spliced in first: one string concatenation per
  // frame, the same in every mode, so the modes are compared under the same load.
  const texts = resumable ? pool.map((frame) => frame.toString().slice(1)) : undefined;
  // Acks come back in send order, so a ring of send times per connection matches them up.
  const sentAt = new Float64Array(inFlight);
  let head = 0;
  let tail = 0;
  let n = 0;
  let seq = 0;
  const send = () => {
    sentAt[tail] = performance.now();
    tail = (tail + 1) % inFlight;
    if (texts === undefined) ws.send(pool[n++ % pool.length], { binary: false });
    else ws.send(`{"seq":${++seq},${texts[n++ % texts.length]}`);
  };
  const onReply = (data) => {
    const now = performance.now();
    const started = sentAt[head];
    head = (head + 1) % inFlight;
    if (measuring) {
      const status = data[STATUS_AT];
      if (status === RECEIVED_BYTE || (resumable && status === DUPLICATE_BYTE)) acks++;
      else errorAcks++;
      recordLatency(now - started);
    }
    if (ws.readyState === WebSocket.OPEN) send();
  };
  ws.once('close', () => {
    if (!stopping) closed++;
  });
  if (!resumable) {
    takeOver(ws, onReply);
    for (let k = 0; k < inFlight; k++) send();
    return;
  }
  // The first frame of a resumable connection is {"type":"resume",…,"last_seq":N}: go on from N + 1.
  let resumed = false;
  takeOver(ws, (data) => {
    if (resumed) return onReply(data);
    if (!data.subarray(0, RESUME_PREFIX.length).equals(RESUME_PREFIX)) {
      throw new Error(`expected a resume frame first, got ${data.toString().slice(0, 200)}`);
    }
    resumed = true;
    seq = JSON.parse(data.toString()).last_seq;
    for (let k = 0; k < inFlight; k++) send();
  });
}

// --- monitor ------------------------------------------------------------------------------------

const EVENTS_PREFIX = Buffer.from('{"type":"events"');
const EVENT_MARK = Buffer.from('{"message_id":');
let monitorStats = [];

function startMonitor(ws) {
  const stats = { frames: 0, events: 0, bytes: 0 };
  monitorStats.push(stats);
  takeOver(ws, (data) => {
    if (!measuring || !data.subarray(0, EVENTS_PREFIX.length).equals(EVENTS_PREFIX)) return;
    stats.frames++;
    stats.bytes += data.length;
    // Counting event heads is enough here (the bench frames never contain this text) and costs far
    // less than parsing ~100 KB frames on a machine the server shares.
    for (let at = data.indexOf(EVENT_MARK); at !== -1; at = data.indexOf(EVENT_MARK, at + 1)) {
      stats.events++;
    }
  });
}

// --- control ------------------------------------------------------------------------------------

parentPort.on('message', (msg) => {
  if (msg.cmd === 'measure') {
    acks = 0;
    errorAcks = 0;
    latencyCount = 0;
    for (const s of monitorStats) Object.assign(s, { frames: 0, events: 0, bytes: 0 });
    windowStart = performance.now();
    measuring = true;
  } else if (msg.cmd === 'report') {
    measuring = false;
    const seconds = (performance.now() - windowStart) / 1000;
    const lat = latencies.slice(0, latencyCount);
    parentPort.postMessage(
      { type: 'report', seconds, acks, errorAcks, closed, latencies: lat, monitors: monitorStats },
      [lat.buffer],
    );
  } else if (msg.cmd === 'stop') {
    stopping = true;
    for (const ws of sockets) ws.terminate();
    parentPort.close();
  }
});

try {
  if (role === 'ingest' && resumable) {
    await openMany(connections, (i) => `/ws/behaviour?stream=${streamId(i)}`, startIngest);
  } else if (role === 'ingest') await openMany(connections, '/ws/behaviour', startIngest);
  else if (role === 'monitor') await openMany(connections, '/ws/monitor', startMonitor);
  else await openMany(connections, '/ws/behaviour');
  parentPort.postMessage({ type: 'ready', open: sockets.length });
} catch (err) {
  parentPort.postMessage({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
}
