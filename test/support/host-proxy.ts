// A reverse proxy that sends every request, WebSocket upgrades included, with a fixed Host header,
// as nginx does with `proxy_set_header Host $host` (the port dropped): the browser's Origin then no
// longer matches the Host the service sees, so the monitor's origin check refuses the page.
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import { type Socket, connect } from 'node:net';

export class HostProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly targetPort: number,
    private readonly host: string,
  ) {
    this.server = createServer((req, res) => {
      const upstream = request(
        {
          host: '127.0.0.1',
          port: targetPort,
          method: req.method,
          path: req.url,
          headers: this.headers(req),
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
      const upstream = connect(targetPort, '127.0.0.1', () => {
        const lines = Object.entries(this.headers(req)).flatMap(([name, value]) =>
          (Array.isArray(value) ? value : [value ?? '']).map((v) => `${name}: ${v}`),
        );
        upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
        upstream.write(head);
        client.pipe(upstream).pipe(client);
      });
      this.sockets.add(upstream);
      upstream.once('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  }

  static async start(targetPort: number, host: string): Promise<HostProxy> {
    const proxy = new HostProxy(targetPort, host);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private headers(req: IncomingMessage): IncomingMessage['headers'] {
    return { ...req.headers, host: this.host };
  }
}
