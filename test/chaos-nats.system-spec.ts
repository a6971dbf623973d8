// The fault suite on NATS JetStream, short: the faults of chaos/nats-faults.ts in NATS_TEST_FAULTS,
// against production builds and a private nats-server -js, judged by reading the
// JetStream stream itself. `npm run chaos -- --engine nats` runs the full set, and
// `--engine nats-cluster` the three-node cluster.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUICK } from '../chaos/faults.js';
import { NatsBroker } from '../chaos/nats-broker.js';
import { NATS_FAULTS, NATS_TEST_FAULTS } from '../chaos/nats-faults.js';
import { runFault } from '../chaos/scenario.js';
import { details, table } from '../chaos/table.js';
import { MUST_BE_ZERO, type Row } from '../chaos/verdict.js';
import { describeWithNats } from './support/nats.js';

const logDir = mkdtempSync(join(tmpdir(), 'cbsa-chaos-nats-test-'));
const rows: Row[] = [];

/** What shows the fault really happened to the clients: a close code, refusals during it, or
 * duplicate replies (two connections across instances: without the Redis bus neither is closed). */
const EVIDENCE: Record<string, number | 'refused' | 'duplicates'> = {
  'kill -9 of an instance, then restart': 1006,
  'broker restarted with its data (kill -9)': 'refused',
  'broker restarted with its data (SIGTERM)': 'refused',
  'connections severed at random': 1006,
  'two connections on one stream, one instance': 4001,
  'two connections on one stream, two instances': 'duplicates',
  'resend after the duplicate window (2 s), two instances': 'duplicates',
};

const faults = NATS_FAULTS.filter((fault) => NATS_TEST_FAULTS.includes(fault.name));

describeWithNats('Fault suite on NATS JetStream, short (e2e)', () => {
  afterAll(() => {
    if (rows.length > 0) console.log(`${table(rows)}\n\n${details(rows)}\n(instance logs in ${logDir})`);
  });

  it('runs every fault of the short set', () => {
    expect(faults.map((fault) => fault.name)).toEqual(NATS_TEST_FAULTS);
  });

  it.each(faults.map((fault) => [fault.name, fault] as const))(
    '%s: every confirmed event is in the stream once, no id reused, no refusal while healthy',
    async (name, fault) => {
      const row = await runFault(fault, { size: QUICK, broker: () => new NatsBroker(1), logDir });
      rows.push(row);
      const zeros = Object.fromEntries([...MUST_BE_ZERO, 'error'].map((c) => [c, row[c as keyof Row]]));
      expect({ ...zeros, notes: row.error === undefined && row.notes.length === 0 ? [] : row.notes }).toEqual(
        {
          ...Object.fromEntries(MUST_BE_ZERO.map((column) => [column, 0])),
          error: undefined,
          notes: [],
        },
      );
      expect(row.acked).toBeGreaterThan(0);
      expect(row.inLog).toBeGreaterThanOrEqual(row.acked);
      const evidence = EVIDENCE[name];
      if (evidence === 'refused') expect(row.refusedInFault).toBeGreaterThan(0);
      else if (evidence === 'duplicates') expect(row.duplicateReplies).toBeGreaterThan(0);
      else expect(row.closeCodes[evidence]).toBeGreaterThan(0);
    },
    120_000,
  );
});
