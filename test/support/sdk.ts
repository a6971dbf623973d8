// The built SDK (client/dist, as published) for the e2e suites, and the durable log read back from
// Redis, grouped by stream.
import { Redis } from 'ioredis';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../src/config/env.js';
import type * as Sdk from '../../client/src/index.js';

export const CLIENT_DIST = join(PACKAGE_ROOT, 'client', 'dist');

/** @cbsa/client from client/dist (built by the tests' pretest), typed by its sources. */
export async function importSdk(): Promise<typeof Sdk> {
  return (await import(pathToFileURL(join(CLIENT_DIST, 'index.js')).href)) as typeof Sdk;
}

export interface LogEntry {
  seq: number;
  messageId: number;
  data: string;
}

/** Every entry of `<prefix>stream`, grouped by the `stream` field, in log order. */
export async function readLog(redisUrl: string, prefix = 'cbsa:'): Promise<Map<string, LogEntry[]>> {
  const redis = new Redis(redisUrl);
  try {
    const entries = await redis.xrange(`${prefix}stream`, '-', '+');
    const byStream = new Map<string, LogEntry[]>();
    for (const [, flat] of entries) {
      const fields = new Map<string, string>();
      for (let i = 0; i < flat.length; i += 2) fields.set(flat[i], flat[i + 1]);
      const stream = fields.get('stream') ?? '';
      if (!byStream.has(stream)) byStream.set(stream, []);
      byStream.get(stream)!.push({
        seq: Number(fields.get('seq')),
        messageId: Number(fields.get('message_id')),
        data: fields.get('data')!,
      });
    }
    return byStream;
  } finally {
    redis.disconnect();
  }
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
