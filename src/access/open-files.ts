// The open-files limit caps ingest sockets too: a process that spends its last file descriptor on a
// phone cannot accept /health, a probe or a Prometheus scrape, and looks dead to its orchestrator.
import { readFileSync } from 'node:fs';

/** The soft "Max open files" limit from /proc/self/limits text; undefined when absent or unlimited. */
export function parseOpenFilesLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match || match[1] === 'unlimited') return undefined;
  const value = Number(match[1]);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** This process's open-files limit (Node raises the soft limit to the hard one at startup); Linux only. */
export function readOpenFilesLimit(): number | undefined {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

export interface IngestCap {
  /** Ingest sockets this process accepts at once. */
  readonly cap: number;
  /** The open-files limit read at startup, if any. */
  readonly openFiles: number | undefined;
  /** What the startup log says; `warn` when MAX_CONNECTIONS does not fit under the limit. */
  readonly level: 'info' | 'warn';
  readonly message: string;
}

/**
 * The effective ingest cap: MAX_CONNECTIONS, or the open-files limit less FD_HEADROOM when that is
 * lower. With WORKERS > 1 each worker applies its own limit (the machine-wide MAX_CONNECTIONS is
 * kept by the primary); `share` is the number of sockets a worker can expect (MAX_CONNECTIONS / WORKERS).
 */
export function ingestCap(
  maxConnections: number,
  headroom: number,
  openFiles: number | undefined,
  workers = 1,
): IngestCap {
  if (openFiles === undefined) {
    return {
      cap: maxConnections,
      openFiles,
      level: 'info',
      message: `Ingest cap ${maxConnections} (MAX_CONNECTIONS); open-files limit unknown`,
    };
  }
  const fdCap = Math.max(0, openFiles - headroom);
  const cap = Math.min(maxConnections, fdCap);
  const share = workers > 1 ? Math.ceil(maxConnections / workers) : maxConnections;
  const scope = workers > 1 ? "This worker's ingest cap" : 'Ingest cap';
  if (share + headroom <= openFiles) {
    return {
      cap,
      openFiles,
      level: 'info',
      message: `${scope} ${cap} (open-files limit ${openFiles}, FD_HEADROOM ${headroom})`,
    };
  }
  const wanted = workers > 1 ? `MAX_CONNECTIONS/WORKERS (${share})` : `MAX_CONNECTIONS (${maxConnections})`;
  return {
    cap,
    openFiles,
    level: 'warn',
    message:
      `${wanted} + FD_HEADROOM (${headroom}) exceeds the open-files limit ${openFiles}; ` +
      `${scope} is ${cap}: further ingest upgrades get HTTP 503 so /health, probes and /metrics keep answering ` +
      `(raise the limit, e.g. LimitNOFILE= or ulimit -n, or lower MAX_CONNECTIONS)`,
  };
}
