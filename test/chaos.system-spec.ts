// The fault suite, short: every fault of `npm run chaos` (chaos/faults.ts) against production builds and
// a private redis-server, judged by reading the log itself. The harness is shared with the script.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULTS, type Fault, QUICK } from '../chaos/faults.js';
import { RedisBroker } from '../chaos/redis-broker.js';
import { runFault } from '../chaos/scenario.js';
import { details, table } from '../chaos/table.js';
import { MUST_BE_ZERO, type Row } from '../chaos/verdict.js';
import { describeWithRedis } from './support/redis.js';

const logDir = mkdtempSync(join(tmpdir(), 'cbsa-chaos-test-'));
const rows: Row[] = [];

/**
 * What shows the fault really struck the clients: a close code they saw, or frames answered
 * "Service unavailable" inside the fault's window (the broker could not take appends). Every fault
 * has one, so a fault that does nothing fails here.
 */
const EVIDENCE: Record<string, number | 'refused'> = {
  'kill -9 of an instance, then restart': 1006,
  'SIGTERM under load, then restart': 1001,
  'broker restarted with its data (kill -9)': 'refused',
  'broker stalled (SIGSTOP, SIGCONT)': 'refused',
  'broker restarted empty (check: no id reused, nothing after lost)': 1006,
  'connections severed at random': 1006,
  'two connections on one stream, one instance': 4001,
  'two connections on one stream, two instances': 4001,
  'rate-limit close (1008)': 1008,
  'heartbeat terminate (clients stop answering pings)': 1006,
  'WORKERS=2, one worker killed -9': 1006,
  'id slot records rolled back (a replica promoted), a slot taken over': 1006,
  'Redis outage x 10 (ids stay within the headroom)': 'refused',
};

function zeros(row: Row): Record<string, unknown> {
  return Object.fromEntries([...MUST_BE_ZERO, 'error'].map((column) => [column, row[column as keyof Row]]));
}

describeWithRedis('Fault suite, short (e2e)', () => {
  afterAll(() => {
    // The same table `npm run chaos` prints, for whoever reads the test output.
    if (rows.length > 0) console.log(`${table(rows)}\n\n${details(rows)}\n(instance logs in ${logDir})`);
  });

  it.each(FAULTS.map((fault): [string, Fault] => [fault.name, fault]))(
    '%s: every confirmed event is in the log once, no id reused, no refusal while healthy',
    async (_name, fault) => {
      const row = await runFault(fault, { size: QUICK, broker: () => new RedisBroker(), logDir });
      rows.push(row);
      expect({
        ...zeros(row),
        notes: row.error === undefined && row.notes.length === 0 ? [] : row.notes,
      }).toEqual({
        ...Object.fromEntries(MUST_BE_ZERO.map((column) => [column, 0])),
        error: undefined,
        notes: [],
      });
      // Real traffic went through, and the log holds at least every acked event.
      expect(row.acked).toBeGreaterThan(0);
      expect(row.inLog).toBeGreaterThanOrEqual(fault.name.includes('empty') ? 1 : row.acked);
      const evidence = EVIDENCE[fault.name];
      expect(evidence).toBeDefined();
      if (evidence === 'refused') expect(row.refusedInFault).toBeGreaterThan(0);
      else expect(row.closeCodes[evidence]).toBeGreaterThan(0);
    },
    120_000,
  );
});
