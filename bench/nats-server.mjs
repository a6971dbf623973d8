// A private `nats-server -js` on a free port with a temporary store directory, for the SINK=nats row
// of the modes scenario: nothing shared with a developer's NATS, the store removed afterwards. Found
// as the test suites find it: NATS_SERVER_PATH, else `nats-server` on the PATH.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { findBinary, onFreePort, startProcess } from './broker-process.mjs';

/** `{ binary }`, or `{ missing }` saying why there is none. */
export const findNatsServer = () => findBinary('nats-server', 'NATS_SERVER_PATH');

/** Starts nats-server -js on a free port. */
export function startNats(binary) {
  return onFreePort(async (port) => {
    const storeDir = mkdtempSync(join(os.tmpdir(), 'cbsa-bench-nats-'));
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir];
    const removeStore = () => rmSync(storeDir, { recursive: true, force: true });
    try {
      const { proc, stop } = await startProcess('nats-server', binary, args, 'Server is ready', 15_000);
      return {
        pid: proc.pid,
        url: `nats://127.0.0.1:${port}`,
        async stop() {
          await stop();
          removeStore();
        },
      };
    } catch (err) {
      removeStore();
      throw err;
    }
  });
}
