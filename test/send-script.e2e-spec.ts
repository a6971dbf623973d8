// The Quick start's third step: `npm run send -- '<json>'` (scripts/send.mjs) sends a frame to a
// running service and prints the ack, and says why when it cannot.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type RunningApp, startApp } from './support/app.js';

const run = promisify(execFile);
const SCRIPT = join(process.cwd(), 'scripts', 'send.mjs');

describe('npm run send', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  }, 60_000);
  afterAll(() => running.close());

  it('prints one ack per frame sent, in order, and exits 0', async () => {
    const { stdout } = await run(process.execPath, [SCRIPT, '{"event_type":"tap"}', 'not json'], {
      env: { ...process.env, CBSA_URL: running.ws('/ws/behaviour') },
    });
    const [ack, error] = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(ack).toEqual({
      status: 'received',
      server_timestamp: expect.any(Number) as unknown,
      message_id: expect.any(Number) as unknown,
    });
    expect(error).toEqual({ status: 'error', message: 'Malformed JSON' });
  });

  it('exits non-zero with the HTTP status when the upgrade is refused', async () => {
    const failed = run(process.execPath, [SCRIPT, '{}'], {
      env: { ...process.env, CBSA_URL: running.ws('/ws/nowhere') },
    });
    await expect(failed).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('HTTP 404') as unknown,
    });
  });
});
