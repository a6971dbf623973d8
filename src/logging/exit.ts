// Exiting with the log in a pipe. pino flushes what it still holds synchronously on exit, and
// sonic-boom 4's flushSync retries for ever on an error it does not expect: when the reader of
// stdout is gone (EPIPE), a process that logged just before exiting would never exit, SIGTERM or
// not. So the log is flushed first, asynchronously and within a bound, and then the exit-time
// flush is switched off: whatever is still unwritten after the bound is dropped rather than allowed
// to hold the exit.
import { type Logger, symbols } from 'pino';

/** How long an exit waits for the log to be written. */
export const LOG_FLUSH_MS = 1000;

type Stream = { flushSync?: () => void } | undefined;

export function exitWhenLogged(logger: Logger | undefined, code: number, waitMs = LOG_FLUSH_MS): void {
  if (logger === undefined) return process.exit(code);
  const exit = () => {
    clearTimeout(timer);
    const stream = (logger as unknown as Record<symbol, Stream>)[symbols.streamSym];
    if (stream?.flushSync !== undefined) stream.flushSync = () => undefined;
    process.exit(code);
  };
  const timer = setTimeout(exit, waitMs);
  try {
    logger.flush(exit);
  } catch {
    exit();
  }
}
