// MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP and MAX_CONNECTIONS_PER_SUBJECT hold for the machine. In one process the counts are
// local; with WORKERS > 1 the node:cluster primary keeps them and each worker asks it, over the
// cluster IPC channel, before it accepts an ingest upgrade (one round trip per new connection).
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import cluster from 'node:cluster';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { type IngestCap, ingestCap, readOpenFilesLimit } from './open-files.js';

/** Counts open ingest sockets in total and per address group; refuses past the caps. */
export class SlotTable {
  private open = 0;
  private readonly perGroup = new Map<string, number>();

  constructor(
    private readonly max: number,
    /** 0: off. */
    private readonly maxPerGroup: number,
  ) {}

  /** Takes a slot, or answers the HTTP status to refuse with: 503 over the total, 429 over the address cap. */
  acquire(group: string): number | undefined {
    if (this.open >= this.max) return 503;
    const inGroup = this.perGroup.get(group) ?? 0;
    if (this.maxPerGroup > 0 && inGroup >= this.maxPerGroup) return 429;
    this.open++;
    this.perGroup.set(group, inGroup + 1);
    return undefined;
  }

  release(group: string): void {
    const left = (this.perGroup.get(group) ?? 0) - 1;
    if (left < 0) return;
    this.open--;
    if (left === 0) this.perGroup.delete(group);
    else this.perGroup.set(group, left);
  }

  /** What acquire would answer, without taking a slot. */
  peek(group: string): number | undefined {
    if (this.open >= this.max) return 503;
    if (this.maxPerGroup > 0 && (this.perGroup.get(group) ?? 0) >= this.maxPerGroup) return 429;
    return undefined;
  }
}

/**
 * Which table a slot is counted in: `ingest` (MAX_CONNECTIONS and the per-address cap) or `subject`
 * (JWT mode: MAX_CONNECTIONS_PER_SUBJECT, the group being the token's `sub`).
 */
export type SlotKind = 'ingest' | 'subject';

/** Worker <-> primary messages; `cbsa` tells them apart from anything else on the channel. */
export type SlotMessage =
  | { cbsa: 'slot-acquire'; id: number; group: string; kind?: SlotKind }
  | { cbsa: 'slot-release'; group: string; kind?: SlotKind }
  | { cbsa: 'slot-answer'; id: number; status: number | null };

/** The table of subjects: no total, MAX_CONNECTIONS_PER_SUBJECT each (429 past it). */
export function subjectTable(maxPerSubject: number): SlotTable {
  return new SlotTable(Number.MAX_SAFE_INTEGER, maxPerSubject);
}

export function isSlotMessage(message: unknown): message is SlotMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { cbsa?: unknown }).cbsa === 'string' &&
    (message as { cbsa: string }).cbsa.startsWith('slot-')
  );
}

/** A worker whose primary does not answer within this long refuses the upgrade with 503. */
const ANSWER_TIMEOUT_MS = 5000;

@Injectable()
export class ConnectionSlots {
  /** This process's own sockets: all of them in one process, the probe's estimate in a worker. */
  readonly local: SlotTable;
  /** This process's sockets per JWT subject (the machine's count is the primary's, with workers). */
  private readonly localSubjects: SlotTable;
  private readonly inCluster = cluster.isWorker && typeof process.send === 'function';
  private nextId = 0;
  private readonly waiting = new Map<number, (status: number | undefined) => void>();

  /** The cap this process applies, from MAX_CONNECTIONS and its open-files limit (logged at startup). */
  readonly cap: IngestCap;

  constructor(
    @Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>,
    private readonly lifecycle: LifecycleService,
  ) {
    this.cap = ingestCap(cfg.maxConnections, cfg.fdHeadroom, readOpenFilesLimit(), cfg.workers);
    this.local = new SlotTable(this.cap.cap, cfg.maxConnectionsPerIp);
    this.localSubjects = subjectTable(cfg.maxConnectionsPerSubject);
    if (this.inCluster) {
      process.on('message', (message: unknown) => {
        if (!isSlotMessage(message) || message.cbsa !== 'slot-answer') return;
        this.waiting.get(message.id)?.(message.status ?? undefined);
        this.waiting.delete(message.id);
      });
    }
  }

  /** Takes a slot for one ingest socket, or answers the status to refuse it with. */
  async acquire(group: string, kind: SlotKind = 'ingest'): Promise<number | undefined> {
    const table = kind === 'subject' ? this.localSubjects : this.local;
    const refused = table.acquire(group);
    if (refused !== undefined || !this.inCluster) return refused;
    const id = ++this.nextId;
    const status = await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => {
        // A grant that arrives after we gave up is handed back.
        this.waiting.set(id, (late) => {
          if (late === undefined) process.send!({ cbsa: 'slot-release', group, kind } satisfies SlotMessage);
        });
        resolve(503);
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      process.send!({ cbsa: 'slot-acquire', id, group, kind } satisfies SlotMessage);
    });
    if (status !== undefined) table.release(group);
    return status;
  }

  release(group: string, kind: SlotKind = 'ingest'): void {
    (kind === 'subject' ? this.localSubjects : this.local).release(group);
    // Shutting down, the primary gets every slot of this worker back when it exits: one message
    // per socket would only queue 100k messages on the primary as the sockets close.
    if (this.inCluster && process.connected && !this.lifecycle.shuttingDown) {
      process.send!({ cbsa: 'slot-release', group, kind } satisfies SlotMessage);
    }
  }
}
