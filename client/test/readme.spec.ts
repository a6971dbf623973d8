// client/README.md's React Native example is client/examples/async-storage.ts word for word
// (type-checked by `npm run check`), and what it uses works: a queue kept in AsyncStorage survives a
// restart, and the app coming to the foreground reconnects at once.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import AsyncStorage from '@react-native-async-storage/async-storage';
import { AppState } from 'react-native';
import { CbsaClient } from '@cbsa/client';
import { asyncStorageQueue, reconnectOnForeground } from '@cbsa/client/react-native';
import { FakeServer } from './fake-server.js';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..');

function until(predicate: () => boolean, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('client/README.md React Native example', () => {
  it('is the type-checked example, verbatim', () => {
    const readme = readFileSync(join(CLIENT, 'README.md'), 'utf8');
    const example = readFileSync(join(CLIENT, 'examples', 'async-storage.ts'), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('keeps the queue, stream id and next seq in AsyncStorage across a restart', async () => {
    const server = await FakeServer.start();
    try {
      server.verdict = () => ({ error: 'Service unavailable' });
      const options = {
        url: server.url,
        WebSocket,
        storage: asyncStorageQueue(AsyncStorage),
        minDelay: 20,
        maxDelay: 50,
      };
      const first = new CbsaClient(options);
      await first.send({ n: 1 });
      await first.send({ n: 2 });
      await first.close(100);
      const stored = (AsyncStorage as unknown as { dump(): Map<string, string> }).dump();
      expect(stored.get(`cbsa/${first.streamId}/1`)).toBe('{"n":1}');
      expect(stored.get(`cbsa/${first.streamId}/n`)).toBe('3');
      server.verdict = () => 'store';
      const second = new CbsaClient(options);
      expect(await second.send({ n: 3 })).toBe(3);
      expect(second.streamId).toBe(first.streamId);
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

  it('reconnects at once when the app comes to the foreground', async () => {
    const server = await FakeServer.start();
    const client = new CbsaClient({ url: server.url, WebSocket, minDelay: 60_000, maxDelay: 60_000 });
    const stop = reconnectOnForeground(client, AppState);
    try {
      await client.send({ n: 1 });
      await until(() => client.stats.status === 'connected');
      server.dropAll();
      await until(() => client.stats.status === 'offline'); // the next try is up to a minute away
      (AppState as unknown as { change(state: string): void }).change('background');
      expect(client.stats.status).toBe('offline');
      (AppState as unknown as { change(state: string): void }).change('active');
      await until(() => client.stats.status === 'connected', 3_000);
      expect(server.connections).toBe(2);
    } finally {
      stop();
      await client.close(0);
      await server.close();
    }
  });
});
