// @ts-check
// A real `ws` client that queues what it receives, so callers can await frames one by one, each
// with a timeout.
import WebSocket from 'ws';

/** How long a frame or a close is awaited unless the caller says otherwise. */
export const TIMEOUT_MS = 5000;

export class WsClient {
  /** @type {string[]} */
  #queue = [];
  /** @type {((frame: string) => void)[]} */
  #waiters = [];

  /**
   * @param {string} url
   * @param {WebSocket.ClientOptions} [options]
   */
  constructor(url, options) {
    this.socket = new WebSocket(url, options);
    this.socket.on('message', (/** @type {Buffer} */ data) => {
      const frame = data.toString();
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#queue.push(frame);
    });
    /** @type {Promise<void>} */
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    /** @type {Promise<{ code: number, reason: string }>} */
    this.closed = new Promise((resolve) =>
      this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.socket.on('error', () => undefined);
  }

  /**
   * A client whose socket is open.
   * @param {string} url
   * @param {WebSocket.ClientOptions} [options]
   */
  static async open(url, options) {
    const client = new WsClient(url, options);
    await client.opened;
    return client;
  }

  /**
   * @param {string | Buffer} data
   * @param {{ binary?: boolean }} [options]
   */
  send(data, options = {}) {
    this.socket.send(data, options);
  }

  /** Frames received and not read yet by next(), oldest first. @returns {readonly string[]} */
  get unread() {
    return this.#queue;
  }

  /**
   * The next frame as text; rejects after `timeout` ms.
   * @param {number} [timeout]
   * @returns {Promise<string>}
   */
  next(timeout = TIMEOUT_MS) {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no frame within ${timeout} ms`));
      }, timeout);
      const waiter = (/** @type {string} */ frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * The next frame, parsed.
   * @template [T=Record<string, unknown>]
   * @param {number} [timeout]
   * @returns {Promise<T>}
   */
  async nextJson(timeout = TIMEOUT_MS) {
    return /** @type {T} */ (JSON.parse(await this.next(timeout)));
  }

  /**
   * Skips frames until one satisfies `predicate`.
   * @template [T=Record<string, unknown>]
   * @param {(frame: T) => boolean} predicate
   * @param {number} [timeout]
   * @returns {Promise<T>}
   */
  async until(predicate, timeout = TIMEOUT_MS) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const frame = /** @type {T} */ (await this.nextJson(Math.max(1, deadline - Date.now())));
      if (predicate(frame)) return frame;
    }
  }

  /**
   * @param {number} [timeout]
   * @returns {Promise<{ code: number, reason: string }>}
   */
  waitClosed(timeout = TIMEOUT_MS) {
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    /** @type {Promise<never>} */
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('not closed in time')), timeout);
    });
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer));
  }

  close() {
    this.socket.close();
  }
}

/**
 * Proves the server still serves: a fresh client sends one frame and gets its ack.
 * @param {string} url
 */
export async function expectServed(url) {
  const client = await WsClient.open(url);
  client.send('{"probe":true}');
  const ack = await client.nextJson();
  client.close();
  if (ack.status !== 'received' || typeof ack.message_id !== 'number') {
    throw new Error(`fresh client not served: ${JSON.stringify(ack)}`);
  }
}
