// A TCP proxy between clients and an instance that cuts connections at random: both sides at
// once (FIN or RST), or one side only, which leaves the other half-open until a heartbeat or a
// newer connection for the same stream (close 4001) ends it.
import { type Server, type Socket, connect, createServer } from 'node:net';
import { HOST, freePort } from '../harness/process.mjs';

type Cut = 'both' | 'both-reset' | 'client-side' | 'server-side';
const CUTS: Cut[] = ['both', 'both-reset', 'client-side', 'server-side'];

export class CuttingProxy {
  private server?: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Half-open sockets left behind by one-sided cuts, closed when the proxy stops. */
  private readonly orphans = new Set<Socket>();
  private timer?: NodeJS.Timeout;
  cuts = 0;

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<CuttingProxy> {
    const proxy = new CuttingProxy(await freePort(), targetPort);
    proxy.server = createServer((client) => proxy.pipe(client));
    await new Promise<void>((resolve) => proxy.server!.listen(proxy.port, HOST, resolve));
    return proxy;
  }

  get url(): string {
    return `ws://${HOST}:${this.port}`;
  }

  /** Cuts one random live connection every `minMs`..`maxMs` until `stopCutting`. */
  startCutting(minMs: number, maxMs: number): void {
    const next = () => {
      this.timer = setTimeout(
        () => {
          this.cutOne();
          next();
        },
        minMs + Math.random() * (maxMs - minMs),
      );
    };
    next();
  }

  stopCutting(): void {
    clearTimeout(this.timer);
  }

  async stop(): Promise<void> {
    this.stopCutting();
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    for (const socket of this.orphans) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private cutOne(): void {
    const live = [...this.pairs];
    if (live.length === 0) return;
    const [client, upstream] = live[Math.floor(Math.random() * live.length)];
    const cut = CUTS[Math.floor(Math.random() * CUTS.length)];
    this.cuts++;
    this.forget(client);
    // One side only: the other socket stays open and unread, as after a lost route.
    if (cut === 'both' || cut === 'client-side') client.destroy();
    if (cut === 'both' || cut === 'server-side') upstream.destroy();
    if (cut === 'both-reset') {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    if (cut === 'client-side') this.orphan(upstream);
    if (cut === 'server-side') this.orphan(client);
  }

  private orphan(socket: Socket): void {
    socket.pause();
    this.orphans.add(socket);
    socket.once('close', () => this.orphans.delete(socket));
  }

  private forget(client: Socket): void {
    for (const pair of this.pairs) if (pair[0] === client) this.pairs.delete(pair);
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.targetPort, HOST);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // A side cut on purpose is no longer in `pairs`; its partner is left as it is.
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', () => this.pairs.has(pair) && end());
    upstream.on('close', () => this.pairs.has(pair) && end());
  }
}
