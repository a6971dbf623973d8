// A child process for the SDK kill test: @cbsa/client (client/dist) on a file storage (atomic
// rename, as an app's storage would be). `send`: sends events one after another, awaiting each
// send() (and now and then a flush), until it is killed. `drain`: delivers what is left, then exits. Every line it prints is
// written before the next step (stdout to a pipe is synchronous), so the parent knows at least what
// it printed when it killed it.
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';

const [distIndex, file, url, mode, run] = process.argv.slice(2);
const { CbsaClient } = await import(distIndex);
const say = (line) => process.stdout.write(line + '\n');

class FileStorage {
  map = new Map();
  constructor() {
    try {
      this.map = new Map(JSON.parse(readFileSync(file, 'utf8')));
    } catch {
      // no file yet
    }
  }
  load(prefix) {
    return [...this.map].filter(([key]) => key.startsWith(prefix));
  }
  async write(set, remove) {
    const next = new Map(this.map);
    for (const [key, value] of set) next.set(key, value);
    for (const key of remove) next.delete(key);
    await writeFile(file + '.tmp', JSON.stringify([...next]));
    await rename(file + '.tmp', file);
    this.map = next;
  }
}

const client = new CbsaClient({
  url,
  storage: new FileStorage(),
  minDelay: 20,
  maxDelay: 200,
  onAck: (ack) => say(`ack ${ack.seq} ${ack.status}`),
  onDrop: (drop) => say(`drop ${drop.seq} ${drop.reason}`),
});
await client.ready;
say(`stream ${client.streamId}`);
if (mode === 'drain') {
  say(`flushed ${await client.flush(60_000)}`);
  await client.close();
} else {
  for (let n = 0; ; n++) {
    const id = `${run}-${n}`;
    say(`begin ${id}`);
    try {
      say(`resolved ${id} ${await client.send({ id })}`);
    } catch {
      say(`rejected ${id}`);
    }
    // Now and then everything is confirmed and deleted, so only the stored next seq is left: a kill
    // then tests that it was written with the events.
    if (Math.random() < 0.2) await client.flush(100);
  }
}
