// A private `nats-server -js` per test file, on a free port with a temporary store directory, so
// suites never share state. Without the binary the NATS suites are skipped locally (with how to
// install it) and fail under CI=true.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from './redis.js';
import { natsCredentials } from '../../src/sink/nats/credentials.js';

function findNats(): string | undefined {
  if (process.env.NATS_SERVER_PATH) return process.env.NATS_SERVER_PATH;
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const NATS_SERVER = findNats();
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

export interface NatsServerOptions {
  /** false: a server without JetStream. */
  jetstream?: boolean;
  token?: string;
  /** A configuration file (-c), for accounts, users and permissions. */
  config?: string;
}

export class NatsServer {
  private proc?: ChildProcess;
  readonly storeDir: string;
  /** Everything the server logged (stderr) since it was last started. */
  log = '';

  private constructor(
    readonly port: number,
    private readonly options: NatsServerOptions,
  ) {
    this.storeDir = mkdtempSync(join(tmpdir(), 'cbsa-nats-'));
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), options);
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** (Re)starts the server on the same port and store directory: JetStream keeps its data. */
  async restart(): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', String(this.port)];
    if (this.options.jetstream !== false) args.push('-js', '-sd', this.storeDir);
    if (this.options.token !== undefined) args.push('--auth', this.options.token);
    if (this.options.config !== undefined) args.push('-c', this.options.config);
    const proc = spawn(NATS_SERVER!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.log = '';
    proc.stderr.on('data', (d: Buffer) => (this.log += d.toString()));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${out}`)), 15_000);
      proc.stderr.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}):\n${out}`));
      });
    });
  }

  /** SIGKILL by default (a crash); SIGTERM for an orderly stop. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  /** Stops the server and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
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
