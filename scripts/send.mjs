// npm run send -- '<json>' ['<json>' ...]: sends each argument as one frame to a running CBSA and
// prints each reply. CBSA_URL picks the endpoint (default ws://localhost:8000/ws/behaviour) and
// CBSA_TOKEN a token, sent in the Authorization header (never in the URL).
import { WebSocket } from 'ws';

const url = process.env.CBSA_URL || 'ws://localhost:8000/ws/behaviour';
const frames = process.argv.slice(2);
if (frames.length === 0) {
  console.error(`usage: npm run send -- '{"event_type":"tap"}' [more frames...]`);
  process.exit(2);
}
const headers = process.env.CBSA_TOKEN ? { Authorization: `Bearer ${process.env.CBSA_TOKEN}` } : {};
const socket = new WebSocket(url, { headers });
let pending = frames.length;
socket.on('unexpected-response', (_req, res) => {
  console.error(`${url}: HTTP ${res.statusCode}`);
  process.exit(1);
});
socket.on('error', (err) => {
  console.error(`${url}: ${err.message}`);
  process.exit(1);
});
socket.on('open', () => {
  for (const frame of frames) socket.send(frame);
});
socket.on('message', (data) => {
  const text = data.toString();
  console.log(text);
  // A resume frame (resumable streams) is not a reply to one of ours.
  if (text.startsWith('{"type":"resume"')) return;
  if (--pending === 0) socket.close(1000);
});
socket.on('close', (code) => process.exit(pending === 0 ? 0 : code === 1000 ? 0 : 1));
