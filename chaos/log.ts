// What a fault run reads back from the durable log, whatever engine holds it. One `Broker` per
// engine (Redis Streams here; a NATS JetStream broker plugs in the same way): it runs the private
// server, injects the broker-side faults and reads its own log back.

/** One stored event, as the log holds it. */
export interface LogEntry {
  /** The engine's own position (Redis entry id, JetStream sequence). */
  position: string;
  stream: string;
  seq: number;
  messageId: number;
  /** The event's text exactly as stored. */
  data: string;
}

export interface Broker {
  /** Names the engine in the table, e.g. `redis-stream`. */
  readonly engine: string;
  /** The environment a service needs to use this broker as its sink. */
  serviceEnv(): Record<string, string>;
  start(): Promise<void>;
  /** Kills the server (SIGKILL, or SIGTERM and wait) and starts it again, with its data or empty.
   * Resolves with the time the old server was seen gone: nothing can be stored in it after that. */
  restart(options: { keepData: boolean; signal: 'SIGKILL' | 'SIGTERM' }): Promise<{ goneAt: number }>;
  /** SIGSTOP / SIGCONT: the server stays connected but answers nothing. */
  pause(): void;
  resume(): void;
  /** Every entry in the log, in log order. */
  readLog(): Promise<LogEntry[]>;
  /** After a restart without its data: every entry the old server held when it was killed (what
   * was lost), or undefined when the engine cannot tell; the verdict then judges by time alone. */
  readLostLog?(): Promise<LogEntry[] | undefined>;
  stop(): Promise<void>;
}
