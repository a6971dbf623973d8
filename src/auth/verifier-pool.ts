// Worker threads that check JWTs (verify-worker.ts), so a burst of new tokens (every device
// reconnecting after a deploy) costs the event loop a message each way, not a signature check each:
// acks of the streams already open keep flowing while the other cores verify. Requests go to the
// thread with the fewest in flight. A thread that dies is replaced; its requests answer
// 'unavailable' (the upgrade gets 503, not 401).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { JSONWebKeySet } from 'jose';
import type { CheckOptions, CheckVerdict, FromWorker, ToWorker } from './verify-worker.js';

export type PoolVerdict = CheckVerdict | 'unavailable';

/** The worker's file: the compiled .js beside this one, or under test (ts-jest) the .ts source. */
function workerFile(): string {
  const js = fileURLToPath(new URL('./verify-worker.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('./verify-worker.ts', import.meta.url));
}

interface Thread {
  worker: Worker;
  inFlight: number;
  /** Tokens asked for in this turn of the event loop, sent together at its end. */
  outbox: [id: number, token: string][];
}

export class VerifierPool {
  private readonly threads: Thread[] = [];
  private readonly pending = new Map<number, { resolve: (v: PoolVerdict) => void; thread: Thread }>();
  private nextId = 0;
  private jwks?: JSONWebKeySet;
  private closed = false;

  constructor(
    size: number,
    private readonly options: CheckOptions,
    private readonly onError: (err: Error) => void,
  ) {
    for (let i = 0; i < size; i++) this.threads.push(this.spawn());
  }

  check(token: string): Promise<PoolVerdict> {
    let thread = this.threads[0];
    for (const t of this.threads) if (t.inFlight < thread.inFlight) thread = t;
    const id = ++this.nextId;
    thread.inFlight++;
    if (thread.outbox.push([id, token]) === 1) setImmediate(() => this.send(thread));
    return new Promise((resolve) => this.pending.set(id, { resolve, thread }));
  }

  private send(thread: Thread): void {
    const message: ToWorker = { tokens: thread.outbox };
    thread.outbox = [];
    // A thread replaced meanwhile: its requests were answered 'unavailable' already.
    if (!this.closed && this.threads.includes(thread)) thread.worker.postMessage(message);
  }

  /** A newly fetched JWKS, for every thread (and those started later). */
  setKeys(jwks: JSONWebKeySet): void {
    this.jwks = jwks;
    const message: ToWorker = { jwks };
    for (const thread of this.threads) thread.worker.postMessage(message);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    for (const { resolve } of this.pending.values()) resolve('unavailable');
    this.pending.clear();
  }

  private spawn(): Thread {
    const source =
      'jwks' in this.options.source ? { ...this.options.source, jwks: this.jwks } : this.options.source;
    const worker = new Worker(workerFile(), { workerData: { cbsaVerifier: { ...this.options, source } } });
    // Never what keeps the process up: shutdown terminates them.
    worker.unref();
    const thread: Thread = { worker, inFlight: 0, outbox: [] };
    worker.on('message', (answers: FromWorker) => {
      for (const [id, verdict] of answers) {
        const request = this.pending.get(id);
        if (request === undefined) continue;
        this.pending.delete(id);
        thread.inFlight--;
        request.resolve(verdict);
      }
    });
    worker.on('error', (err: Error) => this.onError(err));
    worker.on('exit', () => {
      if (this.closed) return;
      this.onError(new Error('a JWT verifier thread exited; starting another'));
      for (const [id, request] of this.pending) {
        if (request.thread !== thread) continue;
        this.pending.delete(id);
        request.resolve('unavailable');
      }
      this.threads[this.threads.indexOf(thread)] = this.spawn();
    });
    return thread;
  }
}
