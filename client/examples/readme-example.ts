// The SDK example of the repository's README, word for word below these lines
// (client/test/readme.spec.ts checks it); it runs in a browser.
/// <reference lib="dom" />
import { CbsaClient, IndexedDBStorage } from '@cbsa/client';

interface TapEvent {
  event_type: 'tap';
  x: number;
  y: number;
}

const client = new CbsaClient<TapEvent>({
  url: 'wss://cbsa.example.com/ws/behaviour',
  storage: new IndexedDBStorage(), // the queue survives a closed tab or a killed app
  getToken: () => fetch('/cbsa-token').then((res) => res.text()), // JWT mode
});
client.on('drop', (drop) => console.warn('dropped', drop.seq, drop.reason));
const seq = await client.send({ event_type: 'tap', x: 1, y: 2 }); // resolves once stored on the device
export { seq };
