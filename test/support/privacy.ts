// Shared by the privacy suites: instances as separate processes (each its own instance id, so the
// Redis bus carries events between them), and bulk sending on resumable streams.
import { Instance } from '../../harness/instance.mjs';
import { WsClient } from '../../harness/ws-client.mjs';

/** An instance as the privacy suites run it: monitors flushed every 10 ms. */
export function startInstance(env: Record<string, string>): Promise<Instance> {
  return Instance.start({ MONITOR_FLUSH_MS: '10', ...env });
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
  const client = await WsClient.open(url);
  const resume = await client.nextJson();
  if (resume.type !== 'resume') throw new Error(`expected the resume frame, got ${JSON.stringify(resume)}`);
  for (let i = 0; i < count; i++) client.send(JSON.stringify({ ...payload(from + i), seq: from + i }));
  const replies: Record<string, unknown>[] = [];
  while (replies.length < count) replies.push(await client.nextJson(30_000));
  client.close();
  return replies;
}
