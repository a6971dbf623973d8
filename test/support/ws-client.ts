// A real `ws` client that queues what it receives, so tests can await frames one by one.
import WebSocket from 'ws';

export const TIMEOUT_MS = 5000;

export class TestClient {
  readonly socket: WebSocket;
  private readonly queue: string[] = [];
  private waiters: ((frame: string) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.socket = new WebSocket(url, options);
    this.socket.on('message', (data: Buffer) => {
      const frame = data.toString();
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.queue.push(frame);
    });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.socket.on('error', () => undefined);
  }

  static async open(url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
    const client = new TestClient(url, options);
    await client.opened;
    return client;
  }

  send(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, options);
  }

  /** Frames received and not read yet by next(), oldest first. */
  get unread(): readonly string[] {
    return this.queue;
  }

  /** The next frame as text; rejects after `timeout` ms. */
  next(timeout = TIMEOUT_MS): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no frame within ${timeout} ms`));
      }, timeout);
      const waiter = (frame: string) => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.waiters.push(waiter);
    });
  }

  async nextJson<T = Record<string, unknown>>(timeout = TIMEOUT_MS): Promise<T> {
    return JSON.parse(await this.next(timeout)) as T;
  }

  /** Skips frames until one satisfies `predicate`. */
  async until<T = Record<string, unknown>>(
    predicate: (frame: T) => boolean,
    timeout = TIMEOUT_MS,
  ): Promise<T> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const frame = await this.nextJson<T>(Math.max(1, deadline - Date.now()));
      if (predicate(frame)) return frame;
    }
  }

  waitClosed(timeout = TIMEOUT_MS): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('not closed in time')), timeout);
    });
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.socket.close();
  }
}

/** Proves the server still serves: a fresh client sends one frame and gets its ack. */
export async function expectServed(url: string): Promise<void> {
  const client = await TestClient.open(url);
  client.send('{"probe":true}');
  const ack = await client.nextJson();
  client.close();
  if (ack.status !== 'received' || typeof ack.message_id !== 'number') {
    throw new Error(`fresh client not served: ${JSON.stringify(ack)}`);
  }
}
