// Owns what every frame passes through: message ids, counters, classification onto the flow map,
// and the Subject that fans events out to monitors.
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { Subject } from 'rxjs';
import { FlowMap } from './flow-map.js';
import { MALFORMED_JSON, type StreamEvent } from './stream-event.js';

export const MALFORMED_ACK = `{"status":"error","message":"${MALFORMED_JSON}"}`;
const SUMMARY_EVERY_TICKS = 10;

export interface StreamStats {
  active_connections: number;
  active_monitors: number;
  total_messages: number;
  total_errors: number;
  messages_per_second: number;
}

function idField(obj: unknown, key: string): string | number | undefined {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || !Object.hasOwn(obj, key)) {
    return undefined;
  }
  const value = (obj as Record<string, unknown>)[key];
  return typeof value === 'string' || typeof value === 'number' ? value : undefined;
}

@Injectable()
export class StreamService implements OnModuleInit, OnModuleDestroy {
  readonly events$ = new Subject<StreamEvent>();

  private lastId = 0;
  private totalMessages = 0;
  private totalErrors = 0;
  private activeConnections = 0;
  private activeMonitors = 0;
  private messagesPerSecond = 0;

  private lastMs = 0;
  private lastTimestamp = '0.000';

  private ticker?: NodeJS.Timeout;
  private ticks = 0;
  private countedAtTick = 0;
  private summaryFrom = { messages: 0, errors: 0 };
  private readonly debug: boolean;

  constructor(
    private readonly flowMap: FlowMap,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(StreamService.name);
    this.debug = logger.logger.isLevelEnabled('debug');
  }

  onModuleInit(): void {
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.ticker);
    this.events$.complete();
  }

  /**
   * The per-frame hot path: parse once, count, classify, emit, and return the ack text.
   * The ack is built as a string (no JSON.stringify) and nothing is logged unless debug is on.
   */
  ingest(text: string, size: number, clientId: string): string {
    const timestamp = this.timestamp();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.totalErrors++;
      this.events$.next({ messageId: null, clientId, timestamp, route: this.flowMap.errorRoute, size, text });
      if (this.debug)
        this.logger.debug({ client_id: clientId, size }, 'Malformed frame from client %s', clientId);
      return MALFORMED_ACK;
    }
    const messageId = ++this.lastId;
    this.totalMessages++;
    this.events$.next({ messageId, clientId, timestamp, route: this.flowMap.classify(value), size, text });
    if (this.debug) this.logReceived(messageId, clientId, value);
    return '{"status":"received","server_timestamp":' + timestamp + ',"message_id":' + messageId + '}';
  }

  connectionOpened(): void {
    this.activeConnections++;
  }

  connectionClosed(): void {
    this.activeConnections--;
  }

  monitorOpened(): void {
    this.activeMonitors++;
  }

  monitorClosed(): void {
    this.activeMonitors--;
  }

  stats(): StreamStats {
    return {
      active_connections: this.activeConnections,
      active_monitors: this.activeMonitors,
      total_messages: this.totalMessages,
      total_errors: this.totalErrors,
      messages_per_second: this.messagesPerSecond,
    };
  }

  /** Seconds since the epoch with ms precision, formatted once per millisecond rather than per frame. */
  private timestamp(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastTimestamp = (ms / 1000).toFixed(3);
    }
    return this.lastTimestamp;
  }

  private logReceived(messageId: number, clientId: string, value: unknown): void {
    const user = idField(value, 'user_id');
    const session = idField(value, 'session_id');
    this.logger.debug(
      { message_id: messageId, user_id: user, session_id: session, client_id: clientId },
      'Received message #%d from user %s (session: %s, client: %s)',
      messageId,
      user ?? 'unknown',
      session ?? 'none',
      clientId,
    );
  }

  private tick(): void {
    this.messagesPerSecond = this.totalMessages - this.countedAtTick;
    this.countedAtTick = this.totalMessages;
    if (++this.ticks % SUMMARY_EVERY_TICKS !== 0) return;
    const messages = this.totalMessages - this.summaryFrom.messages;
    const errors = this.totalErrors - this.summaryFrom.errors;
    this.summaryFrom = { messages: this.totalMessages, errors: this.totalErrors };
    if (messages === 0 && errors === 0) return;
    this.logger.info(
      {
        messages,
        errors,
        messages_per_second: Math.round((messages / SUMMARY_EVERY_TICKS) * 10) / 10,
        clients: this.activeConnections,
      },
      'Last %ds: %d messages, %d errors, %d clients',
      SUMMARY_EVERY_TICKS,
      messages,
      errors,
      this.activeConnections,
    );
  }
}
