// Shared by the privacy suites: instances as separate processes (each its own instance id, so the
// Redis bus carries events between them), and bulk sending on resumable streams.
import { Service } from './service.js';
import { TestClient } from './ws-client.js';

export class Instance {
  private constructor(
    readonly service: Service,
    readonly port: number,
  ) {}

  static async start(env: Record<string, string>): Promise<Instance> {
    const service = new Service({ MONITOR_FLUSH_MS: '10', ...env });
    return new Instance(service, await service.port());
  }

  ws(path: string): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  http(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  stop(): Promise<void> {
    return this.service.stop();
  }
}

/**
 * Sends `count` events on a resumable stream, seq `from`..`from + count - 1`, all at once, and
 * resolves with the replies once every one is in (the service pushes back by not reading).
 */
export async function sendStream(
  url: string,
  count: number,
  payload: (seq: number) => Record<string, unknown>,
  from = 1,
): Promise<Record<string, unknown>[]> {
  const client = await TestClient.open(url);
  const resume = await client.nextJson();
  if (resume.type !== 'resume') throw new Error(`expected the resume frame, got ${JSON.stringify(resume)}`);
  for (let i = 0; i < count; i++) client.send(JSON.stringify({ ...payload(from + i), seq: from + i }));
  const replies: Record<string, unknown>[] = [];
  while (replies.length < count) replies.push(await client.nextJson(30_000));
  client.close();
  return replies;
}
