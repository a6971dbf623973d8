// A private, empty redis-server on a free port for scenario 6 (WORKERS=2 with Redis) and the
// SINK=redis-stream row of scenario 7: nothing on disk, nothing shared with a developer's Redis.
// Found as the test suites find it: REDIS_SERVER_PATH, else `redis-server` on the PATH.
import { findBinary, onFreePort, startProcess } from './broker-process.mjs';

/** `{ binary }`, or `{ missing }` saying why there is none. */
export const findRedisServer = () => findBinary('redis-server', 'REDIS_SERVER_PATH');

/** Starts redis-server on a free port. */
export function startRedis(binary) {
  return onFreePort(async (port) => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ];
    const { proc, stop } = await startProcess(
      'redis-server',
      binary,
      args,
      'Ready to accept connections',
      10_000,
    );
    return { pid: proc.pid, url: `redis://127.0.0.1:${port}/0`, stop };
  });
}
