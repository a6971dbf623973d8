// A TCP proxy between clients and the service that can sever connections at random points: it may
// forward only part of a chunk (cutting a WebSocket frame in half) and then destroy both sides.
import { type Server, type Socket, connect, createServer } from 'node:net';

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Probability that a chunk (either way) is cut short and its connection severed. */
  cutChance = 0;
  /** While true, new connections are closed at once (the service looks unreachable). */
  down = false;
  /** Connections cut on purpose (cutChance or severAll). */
  cuts = 0;
  connections = 0;

  private constructor(private readonly targetPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Severs every open connection now. */
  severAll(): void {
    for (const pair of [...this.pairs]) this.sever(pair, true);
  }

  async close(): Promise<void> {
    this.severAll();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = connect(this.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const pipe = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (this.cutChance > 0 && Math.random() < this.cutChance) {
          to.write(chunk.subarray(0, Math.floor(Math.random() * chunk.length)));
          this.sever(pair, true);
          return;
        }
        to.write(chunk);
      });
      from.on('error', () => this.sever(pair));
      from.on('close', () => this.sever(pair));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  }

  private sever(pair: [Socket, Socket], cut = false): void {
    if (!this.pairs.delete(pair)) return;
    if (cut) this.cuts++;
    for (const socket of pair) socket.destroy();
  }
}
