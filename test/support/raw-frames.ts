// Hand-built HTTP upgrades and WebSocket frames, for inputs a well-behaved client cannot send.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Buffer | string;
  mask?: boolean;
  /** Length to declare instead of the payload's (for lying headers). */
  declaredLength?: bigint;
}

/** Encodes one client frame; masked unless `mask: false`. */
export function frame({
  fin = true,
  rsv = 0,
  opcode,
  payload = '',
  mask = true,
  declaredLength,
}: FrameSpec): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const length = declaredLength ?? BigInt(data.length);
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  const maskBit = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, data]);
  const key = randomBytes(4);
  const masked = Buffer.from(data.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

export interface RawResponse {
  socket: Socket;
  status: number;
  head: string;
}

/** Sends a raw HTTP request (upgrade or not) and resolves with the status line's code. */
export function rawRequest(port: number, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = buffered.subarray(0, end).toString();
      const rest = buffered.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve({ socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head });
    };
    socket.on('data', onData);
    socket.once('close', () => resolve({ socket, status: 0, head: buffered.toString() }));
    socket.on('error', (err) => (buffered.length === 0 ? reject(err) : undefined));
  });
}

export function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Host: 'localhost',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

/** An upgraded raw socket, ready for hand-built frames. */
export async function rawWebSocket(
  port: number,
  path: string,
  headers?: Record<string, string>,
): Promise<Socket> {
  const res = await rawRequest(port, upgradeRequest(path, headers));
  if (res.status !== 101) throw new Error(`upgrade refused: ${res.head}`);
  return res.socket;
}

/** Reads server frames until a close frame arrives; resolves with its code (1005 if none given, 1006 on bare close). */
export function closeCode(socket: Socket, timeout = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no close frame')), timeout);
    const done = (code: number) => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(code);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (buffered.length < 2) return;
        let length = buffered[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffered.length < 4) return;
          length = buffered.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffered.length < 10) return;
          length = Number(buffered.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffered.length < offset + length) return;
        if ((buffered[0] & 0x0f) === 0x8) {
          return done(length >= 2 ? buffered.readUInt16BE(offset) : 1005);
        }
        buffered = buffered.subarray(offset + length);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => done(1006));
    socket.resume();
  });
}
