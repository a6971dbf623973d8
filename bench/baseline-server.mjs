// The ceiling the service is measured against: the same job on bare `ws`, with no framework.
// Each frame is parsed once, counted, classified onto the default flow map and acked; monitors get
// the raw text spliced into batch frames with the service's batching rules and event JSON shape.
// Deliberately no logging, DI or RxJS: whatever the service spends beyond this is framework cost.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

const env = process.env;
const HOST = env.HOST || '127.0.0.1';
const PORT = Number(env.PORT || 0);
const FLUSH_MS = Number(env.MONITOR_FLUSH_MS || 50);
const BATCH_MAX = Number(env.MONITOR_BATCH_MAX || 256);
const MAX_BUFFER_BYTES = Number(env.MONITOR_MAX_BUFFER_BYTES || 4 * 1024 * 1024);
const MAX_PAYLOAD = 1024 * 1024;
const PREVIEW_CHARS = 200;
const MALFORMED_ACK = '{"status":"error","message":"Malformed JSON"}';

// Classification rules come from the service's default map, so both servers do the same lookups.
// Paths follow that map's shape (client -> ingest -> parse -> classify -> category -> stream -> ack).
const flowMap = JSON.parse(
  readFileSync(new URL('../src/stream/default-flow-map.json', import.meta.url), 'utf8'),
);
const route = (category, path) => ({
  category: category === null ? 'null' : '"' + category + '"',
  pathJson: JSON.stringify(path),
});
const ERROR_ROUTE = route(null, ['client', 'ingest', 'parse', 'error']);
let defaultRoute;
const rules = [];
for (const node of flowMap.nodes) {
  if (node.kind !== 'category') continue;
  const r = route(node.id, ['client', 'ingest', 'parse', 'classify', node.id, 'stream', 'ack']);
  if (node.match.default) defaultRoute = r;
  else
    rules.push({
      field: node.match.field,
      fallback: node.match.fallback,
      values: new Set(node.match.in.map((v) => v.toLowerCase())),
      route: r,
    });
}

function ownString(obj, key) {
  if (!Object.hasOwn(obj, key)) return undefined;
  const value = obj[key];
  return typeof value === 'string' ? value : undefined;
}

function classify(value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return defaultRoute;
  for (const rule of rules) {
    const field = ownString(value, rule.field) ?? (rule.fallback && ownString(value, rule.fallback));
    if (field !== undefined && rule.values.has(field.toLowerCase())) return rule.route;
  }
  return defaultRoute;
}

let lastId = 0;
let totalMessages = 0;
let totalErrors = 0;
let lastMs = 0;
let lastTimestamp = '0.000';

function timestamp() {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTimestamp = (ms / 1000).toFixed(3);
  }
  return lastTimestamp;
}

// Monitors, with the service's batching: a frame goes out MONITOR_FLUSH_MS after its first event,
// or early once MONITOR_BATCH_MAX events are pending, but never more than one per MONITOR_FLUSH_MS.
const monitors = new Map();
let pending = [];
let flushTimer;
let lastFlush = 0;

function serializeEvent(e) {
  const head =
    '{"message_id":' +
    e.messageId +
    ',"client_id":"' +
    e.clientId +
    '","status":"' +
    (e.messageId === null ? 'error' : 'received') +
    '","server_timestamp":' +
    e.timestamp +
    ',"path":' +
    e.route.pathJson +
    ',"category":' +
    e.route.category +
    ',"size":' +
    e.size;
  if (e.messageId === null) {
    return (
      head + ',"error":"Malformed JSON","preview":' + JSON.stringify(e.text.slice(0, PREVIEW_CHARS)) + '}'
    );
  }
  return head + ',"data":' + e.text + '}';
}

function enqueue(event) {
  if (monitors.size === 0) return;
  pending.push(event);
  if (pending.length >= BATCH_MAX && Date.now() - lastFlush >= FLUSH_MS) flush();
  else if (flushTimer === undefined) flushTimer = setTimeout(flush, FLUSH_MS);
}

function flush() {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  lastFlush = Date.now();
  const events = pending;
  pending = [];
  if (events.length === 0) return;
  const frame = '{"type":"events","events":[' + events.map(serializeEvent).join(',') + ']}';
  for (const [socket, state] of monitors) {
    if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > MAX_BUFFER_BYTES) {
      state.dropped += events.length;
    } else {
      socket.send(frame);
    }
  }
}

function ingest(text, size, clientId) {
  const ts = timestamp();
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    totalErrors++;
    enqueue({ messageId: null, clientId, timestamp: ts, route: ERROR_ROUTE, size, text });
    return MALFORMED_ACK;
  }
  const messageId = ++lastId;
  totalMessages++;
  enqueue({ messageId, clientId, timestamp: ts, route: classify(value), size, text });
  return '{"status":"received","server_timestamp":' + ts + ',"message_id":' + messageId + '}';
}

const wsOptions = { noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false };
const ingestServer = new WebSocketServer(wsOptions);
const monitorServer = new WebSocketServer(wsOptions);

ingestServer.on('connection', (socket) => {
  const clientId = randomBytes(6).toString('base64url');
  socket.on('error', () => undefined);
  socket.on('message', (data) => {
    socket.send(ingest(data.toString(), data.length, clientId));
  });
});

monitorServer.on('connection', (socket) => {
  monitors.set(socket, { dropped: 0 });
  socket.on('error', () => undefined);
  socket.once('close', () => monitors.delete(socket));
  socket.send(
    JSON.stringify({
      type: 'hello',
      app: { name: 'baseline', version: '0' },
      flow_map: '/event-flow-map',
    }),
  );
});

let countedAtTick = 0;
setInterval(() => {
  const perSecond = totalMessages - countedAtTick;
  countedAtTick = totalMessages;
  for (const [socket, state] of monitors) {
    if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > MAX_BUFFER_BYTES) continue;
    socket.send(
      JSON.stringify({
        type: 'stats',
        active_connections: ingestServer.clients.size,
        active_monitors: monitors.size,
        total_messages: totalMessages,
        total_errors: totalErrors,
        messages_per_second: perSecond,
        dropped: state.dropped,
      }),
    );
  }
}, 1000).unref();

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        status: 'ok',
        active_connections: ingestServer.clients.size,
        active_monitors: monitors.size,
        total_messages: totalMessages,
        total_errors: totalErrors,
      }),
    );
  } else {
    res.statusCode = 404;
    res.end();
  }
});

const servers = { '/ws/behaviour': ingestServer, '/ws/monitor': monitorServer };
http.on('upgrade', (req, socket, head) => {
  const server = servers[new URL(req.url ?? '/', 'ws://localhost').pathname];
  if (!server) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
});

http.listen(PORT, HOST, () => {
  const { port } = http.address();
  // The same line shape as the service's startup log, so bench/run.mjs finds the port the same way.
  console.log(JSON.stringify({ level: 30, msg: `baseline listening on http://${HOST}:${port} ` }));
});

process.once('SIGTERM', () => process.exit(0));
