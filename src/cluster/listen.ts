// How a process opens its port. Each node:cluster worker binds its own listening socket with
// SO_REUSEPORT: the kernel spreads new connections over the workers' sockets by a hash of the
// 4-tuple, and each worker accepts its own. (node:cluster's default round-robin has the
// primary accept every connection and pass it over IPC: about 800 a second on the bench machine.)
// With PORT=0 the workers must still share one port: the first to ask the primary picks a free
// one, the others bind the port it got. Where the platform cannot balance SO_REUSEPORT (libuv
// answers ENOTSUP outside Linux and FreeBSD), the worker falls back to the cluster's shared handle.
import cluster from 'node:cluster';
import { type ListenOptions, createServer } from 'node:net';

/** Worker <-> primary messages about the shared port; `cbsa` tells them apart on the channel. */
export type PortMessage =
  | { cbsa: 'port-ask' }
  /** 0: nobody holds a port yet, pick one (and say which with 'listening'). */
  | { cbsa: 'port-answer'; port: number }
  | { cbsa: 'listening'; port: number };

export function isPortMessage(message: unknown): message is PortMessage {
  const kind = typeof message === 'object' && message !== null && (message as { cbsa?: unknown }).cbsa;
  return kind === 'port-ask' || kind === 'port-answer' || kind === 'listening';
}

const inCluster = () => cluster.isWorker && typeof process.send === 'function';

/** The port this process binds: PORT, or with PORT=0 in a worker, the one its siblings share. */
async function sharedPort(port: number): Promise<number> {
  if (port !== 0 || !inCluster()) return port;
  return new Promise<number>((resolve) => {
    const onMessage = (message: unknown) => {
      if (!isPortMessage(message) || message.cbsa !== 'port-answer') return;
      process.off('message', onMessage);
      resolve(message.port);
    };
    process.on('message', onMessage);
    process.send!({ cbsa: 'port-ask' } satisfies PortMessage);
  });
}

/** What Nest's app.listen needs to bind: it passes its arguments on to http.Server.listen. */
export type Listen = (options: ListenOptions) => Promise<unknown>;

/**
 * In a cluster worker, binds its own socket with SO_REUSEPORT (falling back to the cluster's shared
 * handle where unsupported) and says which it did. One process binds plainly, so a second service
 * started on its port fails with EADDRINUSE rather than silently taking half the connections.
 */
export async function listenShared(
  listen: Listen,
  cfg: { port: number; host: string; listenBacklog: number },
): Promise<{ reusePort: boolean }> {
  const base = { port: await sharedPort(cfg.port), host: cfg.host, backlog: cfg.listenBacklog };
  if (!inCluster()) {
    await listen(base);
    return { reusePort: false };
  }
  try {
    // exclusive: this worker's own socket, never one the primary holds.
    await listen({ ...base, reusePort: true, exclusive: true });
    return { reusePort: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
    await listen(base);
    return { reusePort: false };
  }
}

/** After listening: a worker reports its port to the primary (primary.ts counts it as serving). */
export function reportListening(port: number): void {
  if (inCluster()) process.send!({ cbsa: 'listening', port } satisfies PortMessage);
}

/**
 * Run by the primary before it forks: a port already held (by another cluster's SO_REUSEPORT
 * sockets too) fails startup as it would for one process, instead of being silently shared.
 */
export async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port, host }, resolve);
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
