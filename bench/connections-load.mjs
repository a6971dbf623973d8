// One load process of the connections scenario: opens its share of ingest sockets at a bounded
// rate from source addresses 127.0.0.2-127.0.0.9 (one address cannot hold 100k client ports),
// lets 1 in TRICKLE_EVERY send one event a second, and reports to the orchestrator over IPC.
import WebSocket from 'ws';

const { URL: TARGET, COUNT, RATE, TRICKLE_EVERY, FIRST } = process.env;
const count = Number(COUNT);
const rate = Number(RATE);
const trickleEvery = Number(TRICKLE_EVERY);
const first = Number(FIRST);
const ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

const sockets = [];
/** The 1 in TRICKLE_EVERY sockets that send one event a second. */
const tricklers = [];
const latencies = [];
let opened = 0;
let failed = 0;
let unexpectedCloses = 0;
let trickling = false;
let shuttingDown = false;
const closeCodes = {};
const refusals = {};

function open(i) {
  const ws = new WebSocket(TARGET, {
    localAddress: ADDRESSES[(first + i) % ADDRESSES.length],
    perMessageDeflate: false,
  });
  const sent = [];
  ws.once('open', () => {
    opened++;
    const entry = { ws, sent };
    sockets.push(entry);
    if ((first + i) % trickleEvery === 0) tricklers.push(entry);
  });
  ws.on('message', () => {
    const t = sent.shift();
    if (t !== undefined) latencies.push(performance.now() - t);
  });
  let wasOpen = false;
  ws.once('open', () => (wasOpen = true));
  ws.once('close', (code) => {
    if (!wasOpen) return; // refused: counted in failed
    closeCodes[code] = (closeCodes[code] ?? 0) + 1;
    if (!shuttingDown) unexpectedCloses++;
  });
  const refuse = (why) => {
    if (wasOpen) return;
    wasOpen = null;
    failed++;
    refusals[why] = (refusals[why] ?? 0) + 1;
  };
  ws.once('unexpected-response', (_req, res) => {
    refuse(`HTTP ${res.statusCode}`);
    ws.terminate();
  });
  ws.on('error', (err) => {
    if (wasOpen === false) refuse(err.code ?? err.message);
  });
}

async function openAll() {
  const started = performance.now();
  // Bounded rate: a slice every 10 ms.
  const perTick = Math.max(1, Math.round(rate / 100));
  for (let i = 0; i < count; i += perTick) {
    for (let j = i; j < Math.min(count, i + perTick); j++) open(j);
    await new Promise((r) => setTimeout(r, 10));
  }
  while (opened + failed < count) await new Promise((r) => setTimeout(r, 20));
  return (performance.now() - started) / 1000;
}

// Phones are not synchronised: each trickling socket sends at its own phase within the second
// (ten phases, 100 ms apart), rather than all of them in one burst that would measure the queue.
const PHASES = 10;
let phase = 0;
function trickle() {
  phase = (phase + 1) % PHASES;
  if (!trickling) return;
  const now = performance.now();
  for (let i = phase; i < tricklers.length; i += PHASES) {
    const s = tricklers[i];
    if (s.ws.readyState !== WebSocket.OPEN) continue;
    s.sent.push(now);
    s.ws.send(`{"event_type":"tap","t":${Date.now()}}`);
  }
}
setInterval(trickle, 1000 / PHASES);

process.on('message', async (msg) => {
  if (msg.cmd === 'open') process.send({ cmd: 'opened', seconds: await openAll(), opened, failed, refusals });
  else if (msg.cmd === 'trickle') {
    if (msg.on) latencies.length = 0;
    trickling = msg.on;
    process.send({ cmd: 'ok' });
  } else if (msg.cmd === 'report') {
    process.send({
      cmd: 'report',
      latencies,
      unexpectedCloses,
      open: sockets.filter((s) => s.ws.readyState === WebSocket.OPEN).length,
    });
  } else if (msg.cmd === 'expect-shutdown') {
    shuttingDown = true;
    process.send({ cmd: 'ok' });
  } else if (msg.cmd === 'closed') {
    const deadline = Date.now() + msg.timeoutMs;
    while (sockets.some((s) => s.ws.readyState !== WebSocket.CLOSED) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    process.send({
      cmd: 'closed',
      closeCodes,
      unclosed: sockets.filter((s) => s.ws.readyState !== WebSocket.CLOSED).length,
    });
    setTimeout(() => process.exit(0), 50);
  }
});
process.send({ cmd: 'ready' });
