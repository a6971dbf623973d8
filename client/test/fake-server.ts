// A small in-test server speaking the resumable-stream protocol (resume frame, seq, received /
// duplicate / errors, close codes), with hooks to inject each answer the SDK must handle.
import type { IncomingMessage } from 'node:http';
import { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface Stored {
  stream: string;
  seq: number;
  data: Record<string, unknown>;
}

/** What to do with one valid frame: store it as usual, or answer otherwise. */
export type Verdict = 'store' | 'store-no-reply' | { error: string } | { close: number } | { reply: string };

export class FakeServer {
  readonly wss: WebSocketServer;
  readonly stored: Stored[] = [];
  readonly lastSeq = new Map<string, number>();
  /** Per stream, the seq last refused: later frames are refused until it comes again (no silent hole). */
  readonly refused = new Map<string, { seq: number; message: string }>();
  readonly frames: string[] = [];
  readonly sockets = new Set<WebSocket>();
  connections = 0;
  /** When set, an upgrade must present it (Authorization: Bearer, or the cbsa.bearer. subprotocol). */
  token?: string | ((token: string) => boolean);
  /** Per upgrade: how the token came (header, subprotocol, none), and the URL (never holding it). */
  readonly upgrades: { via: 'header' | 'subprotocol' | 'none'; token?: string; url: string }[] = [];
  /** Tokens received in refresh frames. */
  readonly refreshes: string[] = [];
  maxPayload = 64 * 1024;
  /** Decides per frame; default: store. */
  verdict: (frame: { stream: string; seq: number; ws: WebSocket }) => Verdict = () => 'store';
  private nextId = 1;

  private constructor() {
    this.wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      maxPayload: this.maxPayload,
      handleProtocols: (protocols) => (protocols.has('cbsa.v1') ? 'cbsa.v1' : false),
      verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number) => void) => {
        const { req } = info;
        const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        const offered = String(req.headers['sec-websocket-protocol'] ?? '')
          .split(',')
          .map((p) => p.trim())
          .find((p) => p.startsWith('cbsa.bearer.'))
          ?.slice('cbsa.bearer.'.length);
        const token = bearer ?? offered;
        this.upgrades.push({
          via: bearer ? 'header' : offered ? 'subprotocol' : 'none',
          token,
          url: req.url ?? '',
        });
        const valid = typeof this.token === 'function' ? this.token : (t: string) => t === this.token;
        if (this.token && (token === undefined || !valid(token))) return cb(false, 401);
        cb(true);
      },
    });
    this.wss.on('connection', (ws, req) => this.accept(ws, req));
  }

  static async start(): Promise<FakeServer> {
    const server = new FakeServer();
    await new Promise((resolve) => server.wss.once('listening', resolve));
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ws/behaviour`;
  }

  /** Seqs stored for a stream, in log order. */
  seqs(stream: string): number[] {
    return this.stored.filter((s) => s.stream === stream).map((s) => s.seq);
  }

  dropAll(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise((resolve) => this.wss.close(resolve));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const stream = new URL(req.url ?? '/', 'http://x').searchParams.get('stream') ?? '';
    this.connections++;
    // A newer connection on the stream replaces the older one, as the real service does.
    for (const other of this.sockets) {
      if ((other as unknown as { stream: string }).stream === stream)
        other.close(4001, 'Stream resumed elsewhere');
    }
    (ws as unknown as { stream: string }).stream = stream;
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', () => undefined); // e.g. 1009: ws closes the socket itself
    ws.send(JSON.stringify({ type: 'resume', stream, last_seq: this.lastSeq.get(stream) ?? 0 }));
    ws.on('message', (raw) => {
      const text = (raw as Buffer).toString();
      this.frames.push(text);
      const data = JSON.parse(text) as Record<string, unknown>;
      if (data.type === 'refresh') {
        this.refreshes.push(String(data.token));
        return ws.send(JSON.stringify({ type: 'refreshed', exp: Math.floor(Date.now() / 1000) + 3600 }));
      }
      const seq = data.seq;
      const ts = Date.now() / 1000;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) {
        return ws.send(JSON.stringify({ status: 'error', message: 'Invalid seq' }));
      }
      const last = this.lastSeq.get(stream) ?? 0;
      if (seq <= last) return ws.send(JSON.stringify({ status: 'duplicate', server_timestamp: ts, seq }));
      const held = this.refused.get(stream);
      if (held !== undefined && seq !== held.seq) {
        return ws.send(JSON.stringify({ status: 'error', message: held.message }));
      }
      this.refused.delete(stream);
      const verdict = this.verdict({ stream, seq, ws });
      if (typeof verdict === 'object' && !('reply' in verdict)) {
        const message = 'error' in verdict ? verdict.error : 'Service unavailable';
        if (message !== 'Invalid seq') this.refused.set(stream, { seq, message });
      }
      if (verdict === 'store' || verdict === 'store-no-reply') {
        this.lastSeq.set(stream, seq);
        this.stored.push({ stream, seq, data });
        if (verdict === 'store') {
          ws.send(
            JSON.stringify({ status: 'received', server_timestamp: ts, message_id: this.nextId++, seq }),
          );
        }
      } else if ('error' in verdict) {
        ws.send(JSON.stringify({ status: 'error', message: verdict.error }));
      } else if ('close' in verdict) {
        ws.close(verdict.close);
      } else {
        ws.send(verdict.reply);
      }
    });
  }
}
