// client/README.md's React Native AsyncStorage adapter is client/examples/async-storage.ts word for word
// (type-checked by `npm run check`), and it works: a queue written through it survives a restart.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import AsyncStorage from '@react-native-async-storage/async-storage';
import { CbsaClient } from '../src/index.js';
import { asyncStorageQueue } from '../examples/async-storage.js';
import { FakeServer } from './fake-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('README AsyncStorage adapter', () => {
  it('is the type-checked example, verbatim', () => {
    const readme = readFileSync(join(ROOT, 'client', 'README.md'), 'utf8');
    const example = readFileSync(join(ROOT, 'client', 'examples', 'async-storage.ts'), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('keeps the queue, stream id and next seq across a restart', async () => {
    const server = await FakeServer.start();
    try {
      server.verdict = () => ({ error: 'Service unavailable' });
      const options = { url: server.url, WebSocket, storage: asyncStorageQueue, minDelay: 20, maxDelay: 50 };
      const first = new CbsaClient(options);
      await first.ready;
      first.send({ n: 1 });
      first.send({ n: 2 });
      await first.close(100);
      const stored = (AsyncStorage as unknown as { dump(): Map<string, string> }).dump();
      expect(stored.get(`cbsa/${first.streamId}/1`)).toBe('{"n":1}');
      server.verdict = () => 'store';
      const second = new CbsaClient(options);
      await second.ready;
      expect(second.streamId).toBe(first.streamId);
      expect(second.send({ n: 3 })).toBe(3);
      await expect(second.flush(5_000)).resolves.toBe(true);
      await second.close();
      expect(server.stored.map((s) => [s.seq, s.data.n])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
    } finally {
      await server.close();
    }
  });
});
