// Exiting with the log in a pipe. pino (sonic-boom 4) writes asynchronously and, on exit, flushes
// what is still pending with flushSync, which retries for ever on an error it does not expect: when
// the reader of stdout is gone (EPIPE) and a write was still in flight, the process would never
// exit, SIGTERM or not. So an exit first waits, within a bound, until the log stream is idle (a
// broken pipe then surfaces as pino's own EPIPE handling, which stops logging), and only then exits;
// whatever is still unwritten after the bound is dropped rather than allowed to hold the exit.
import { type Logger, symbols } from 'pino';

/** How long an exit waits for the log to be written. */
export const LOG_FLUSH_MS = 1000;
const POLL_MS = 5;

/** sonic-boom's write state (not part of its typed API); absent on other streams, which count as idle. */
interface LogStream {
  _writing?: boolean;
  _len?: number;
  flushSync?: () => void;
}

export function exitWhenLogged(logger: Logger | undefined, code: number, waitMs = LOG_FLUSH_MS): void {
  const stream = (logger as unknown as Record<symbol, LogStream | undefined> | undefined)?.[
    symbols.streamSym
  ];
  if (stream === undefined) return process.exit(code);
  const deadline = Date.now() + waitMs;
  const attempt = (): void => {
    if (!stream._writing && !stream._len) return process.exit(code);
    if (Date.now() >= deadline) {
      // Still not written: drop it, so the exit-time flushSync cannot wait on the pipe for ever.
      stream.flushSync = () => undefined;
      return process.exit(code);
    }
    setTimeout(attempt, POLL_MS);
  };
  attempt();
}
