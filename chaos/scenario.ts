// Runs one fault: a fresh broker and fresh instances, resumable clients under load, the fault
// mid-load, the load stopped and every queue drained, then the log read back and judged.
import { existsSync, mkdirSync } from 'node:fs';
import WebSocket from 'ws';
import { join } from 'node:path';
import { EventSource, ResumableConnection } from './client.js';
import type { ClientSpec, Fault, FaultContext, Size } from './faults.js';
import { Instance } from '../harness/instance.mjs';
import { HOST } from '../harness/process.mjs';
import type { Broker } from './log.js';
import { sleep } from '../harness/wait.mjs';
import { CuttingProxy } from './proxy.js';
import { Recorder } from './recorder.js';
import { type Row, judge } from './verdict.js';

const RECOVERY_GRACE_MS = 2000;

export interface RunOptions {
  size: Size;
  /** A fresh broker of the engine under test. */
  broker: () => Broker;
  /** Where instance logs go (one file per instance). */
  logDir: string;
  /** Upgrade headers per stream id (JWT mode: each stream's own token). */
  headers?: (stream: string) => Record<string, string>;
}

/**
 * A production build on a fixed port (clients find it again after a kill and restart), ready once
 * /health/ready answers; its log appended to `<dir>/<name>.log`.
 */
function startInstance(name: string, env: Record<string, string>, dir: string): Promise<Instance> {
  return Instance.start(env, {
    name,
    until: 'ready',
    logFile: join(dir, `${name}.log`),
    defaults: { HOST, LOG_LEVEL: 'WARNING' },
  });
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40);
}

export async function runFault(
  fault: Fault,
  { size, broker: makeBroker, logDir, headers }: RunOptions,
): Promise<Row> {
  const broker = makeBroker();
  const base = join(logDir, `${broker.engine}-${slug(fault.name)}`);
  let dir = base;
  for (let run = 2; existsSync(dir); run++) dir = `${base}-${run}`;
  mkdirSync(dir, { recursive: true });
  const instances: Instance[] = [];
  const connections: ResumableConnection[] = [];
  let proxy: CuttingProxy | undefined;
  try {
    await broker.start();
    const env = { SHUTDOWN_TIMEOUT_MS: '5000', ...broker.serviceEnv(), ...fault.env };
    const count = fault.instances ?? 1;
    instances.push(
      ...(await Promise.all(
        Array.from({ length: count }, (_, i) => startInstance(`instance-${i}`, env, dir)),
      )),
    );
    if (fault.proxy) proxy = await CuttingProxy.start(instances[0].port);

    const recorder = new Recorder();
    const specs: ClientSpec[] = [
      ...Array.from({ length: size.clients }, () => ({
        connections: 1 as const,
        ratePerSec: fault.ratePerSec ?? 0,
      })),
      ...(fault.extraClients ?? []),
    ];
    const sources: EventSource[] = [];
    const secondConnections: ResumableConnection[] = [];
    specs.forEach((spec, i) => {
      const source = new EventSource(`phone-${i}:session-1`, {
        ratePerSec: spec.ratePerSec,
        maxEvents: size.maxEvents,
      });
      sources.push(source);
      for (let c = 0; c < spec.connections; c++) {
        const instance = instances[(i + (c > 0 && spec.secondOn === 'next' ? 1 : 0)) % instances.length];
        const url = () => proxy?.url ?? instance.url;
        const connection = new ResumableConnection(source, url, recorder, {
          window: size.window,
          mute: spec.mute,
          expectRefusals: spec.expectRefusals,
          headers: headers?.(source.stream),
        });
        connections.push(connection);
        if (c > 0) secondConnections.push(connection);
      }
    });
    connections.forEach((c) => c.start());
    await sleep(size.warmupMs);

    const windows: [number, number][] = [];
    let loss: { from: number; to: number } | undefined;
    const ctx: FaultContext = {
      broker,
      instances,
      proxy,
      size,
      brokerFault: async (body) => {
        const from = Date.now();
        await body();
        await Promise.all(instances.map((instance) => instance.waitReady()));
        windows.push([from, Date.now() + RECOVERY_GRACE_MS]);
      },
      dataLost: (since) => {
        loss = { from: since, to: Date.now() };
      },
    };
    await fault.inject(ctx);
    await sleep(size.afterMs);

    for (const source of sources) source.producing = false;
    for (const connection of secondConnections) connection.stop();
    const deadline = Date.now() + size.drainMs;
    while (!sources.every((s) => s.done) && Date.now() < deadline) await sleep(50);
    const stuck = connections.filter((c) => !c.source.done).map((c) => `not drained: ${c.describe()}`);
    for (const connection of connections) connection.stop();
    await Promise.all(connections.map((c) => c.closed()));
    await proxy?.stop();
    proxy = undefined;

    if (fault.replayAfterMs !== undefined) {
      await sleep(fault.replayAfterMs);
      await Promise.all(
        sources.map((source, i) => replay(source, instances[(i + 1) % instances.length], recorder)),
      );
    }
    const entries = await broker.readLog();
    const lostEntries = loss === undefined ? undefined : await broker.readLostLog?.();
    const row = judge({
      fault: fault.name,
      engine: broker.engine,
      sources,
      recorder,
      entries,
      windows,
      loss,
      lostEntries,
    });
    row.notes.unshift(...stuck);
    return row;
  } catch (err) {
    return failedRow(fault, broker.engine, err, instances);
  } finally {
    for (const connection of connections) connection.stop();
    await proxy?.stop();
    // The log is read already: no need for a graceful stop (workers exit with their primary).
    await Promise.all(instances.map((instance) => instance.stop('SIGKILL').catch(() => undefined)));
    await broker.stop().catch(() => undefined);
  }
}

/**
 * Resends events 1..produced of `source` on a fresh connection to `instance`, 64 in flight, and
 * records as a protocol error every reply other than `duplicate` (each was confirmed before).
 */
async function replay(source: EventSource, instance: Instance, recorder: Recorder): Promise<void> {
  const socket = new WebSocket(`${instance.url}/ws/behaviour?stream=${encodeURIComponent(source.stream)}`);
  const replies: string[] = [];
  let wake = () => undefined as void;
  socket.on('message', (data: Buffer) => {
    replies.push(data.toString());
    wake();
  });
  socket.on('error', () => undefined);
  const waitFor = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${source.stream}: replay stalled at ${replies.length} replies`)),
        30_000,
      );
      const check = () => {
        if (replies.length < n) return;
        clearTimeout(timer);
        wake = () => undefined;
        resolve();
      };
      wake = check;
      check();
    });
  try {
    await waitFor(1); // the resume frame
    for (let seq = 1; seq <= source.produced; seq++) {
      socket.send(source.text(seq));
      if (seq % 64 === 0) await waitFor(1 + seq - 32);
    }
    await waitFor(1 + source.produced);
  } finally {
    socket.close();
  }
  replies.slice(1).forEach((text, i) => {
    const reply = JSON.parse(text) as { status?: string; seq?: number; message?: string };
    if (reply.status !== 'duplicate' || reply.seq !== i + 1)
      recorder.protocolError(`${source.stream} ${i + 1} resent after the window: ${text}`);
  });
}

function failedRow(fault: Fault, engine: string, err: unknown, instances: Instance[]): Row {
  const message = err instanceof Error ? err.message : String(err);
  return {
    fault: fault.name,
    engine,
    sent: 0,
    acked: 0,
    duplicateReplies: 0,
    inLog: 0,
    ackedButMissing: 0,
    duplicatedInLog: 0,
    idsReused: 0,
    idsAboveHeadroom: 0,
    refusedWhileHealthy: 0,
    holes: 0,
    protocolErrors: 0,
    unconfirmed: 0,
    refusedInFault: 0,
    inLostData: 0,
    closeCodes: {},
    closes: '',
    notes: [
      `the run itself failed: ${message}`,
      ...instances.map((i) => `${i.name}: ${i.recentOutput.slice(-1500)}`),
    ],
    error: message,
  };
}
