// A fault of the chaos suite in JWT mode: every stream connects with its own subject's token
// (Authorization: Bearer), an instance is killed -9 under load and restarted, and the log is read
// back and judged as in test/chaos.system-spec.ts: every confirmed event in the log once, no id
// reused, no refusal while healthy. The connection setup in JWT mode is what is under test here.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULTS, QUICK } from '../chaos/faults.js';
import { RedisBroker } from '../chaos/redis-broker.js';
import { runFault } from '../chaos/scenario.js';
import { details, table } from '../chaos/table.js';
import { MUST_BE_ZERO } from '../chaos/verdict.js';
import { hsKey, jwtEnv, mint } from './support/auth.js';
import { describeWithRedis } from './support/redis.js';

const KILL = 'kill -9 of an instance, then restart';

describeWithRedis('Fault suite in JWT mode (e2e)', () => {
  it(`${KILL}: every confirmed event is in the log once, no id reused, no refusal while healthy`, async () => {
    const key = hsKey();
    const fault = FAULTS.find((f) => f.name === KILL)!;
    // Streams are phone-<i>:session-1; phone-<i> is the subject that owns it.
    const tokens = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      tokens.set(`phone-${i}:session-1`, await mint(key, { sub: `phone-${i}`, expiresIn: 3600 }));
    }
    const row = await runFault(
      { ...fault, env: { ...fault.env, ...jwtEnv(key) } },
      {
        size: QUICK,
        broker: () => new RedisBroker(),
        logDir: mkdtempSync(join(tmpdir(), 'cbsa-chaos-jwt-')),
        headers: (stream) => ({ Authorization: `Bearer ${tokens.get(stream)!}` }),
      },
    );
    console.log(`${table([row])}\n\n${details([row])}`);
    expect({
      ...Object.fromEntries([...MUST_BE_ZERO, 'error'].map((c) => [c, row[c as keyof typeof row]])),
      notes: row.notes,
    }).toEqual({ ...Object.fromEntries(MUST_BE_ZERO.map((c) => [c, 0])), error: undefined, notes: [] });
    expect(row.acked).toBeGreaterThan(0);
    expect(row.inLog).toBeGreaterThanOrEqual(row.acked);
    // The kill really cut the authenticated connections.
    expect(row.closeCodes[1006]).toBeGreaterThan(0);
  }, 120_000);
});
