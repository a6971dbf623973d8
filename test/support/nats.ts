// NATS suites need a nats-server (harness/nats-server.mjs starts a private one per suite). Without
// the binary they are skipped locally (with how to install it) and fail under CI=true. readLog
// reads a JetStream stream back message by message: the log itself, not the service's word.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NATS_SERVER } from '../../harness/nats-server.mjs';
import { natsCredentials } from '../../src/sink/nats/credentials.js';

const INSTALL_HINT =
  'nats-server not found: install it with `apt-get install -y nats-server` (or set NATS_SERVER_PATH)';

/** `describe` when nats-server exists; otherwise a skip (locally) or a failing test (under CI). */
export function describeWithNats(name: string, body: () => void): void {
  if (NATS_SERVER !== undefined) return describe(name, body);
  if (process.env.CI) {
    return describe(name, () =>
      it('needs nats-server', () => {
        throw new Error(INSTALL_HINT);
      }),
    );
  }
  console.warn(`Skipping "${name}": ${INSTALL_HINT}`);
  describe.skip(name, body);
}

export interface LogEntry {
  seq: number;
  data: string;
  headers: Record<string, string>;
}

/** Every message of a JetStream stream, read back one by one (the log itself, not the service's word). */
export async function readLog(url: string, stream = 'CBSA'): Promise<LogEntry[]> {
  const nc = await connect(natsCredentials([url]));
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(stream);
    const entries: LogEntry[] = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage(stream, { seq });
      if (msg === null) continue;
      const headers: Record<string, string> = {};
      for (const [key] of msg.header ?? []) headers[key] = msg.header.get(key);
      entries.push({ seq, data: msg.string(), headers });
    }
    return entries;
  } finally {
    await nc.close();
  }
}
