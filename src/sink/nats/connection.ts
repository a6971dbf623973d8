// SINK=nats: the one connection to NATS, shared by the log, the id lessor and erasure. It connects
// on first use and follows the connection: an outage starts at a disconnect (or when a user reports
// a failed publish or KV request) and ends when the stream answers again. While it lasts the log
// answers "Service unavailable" and readiness is false.
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { PinoLogger } from 'nestjs-pino';
import { INSTANCE_ID } from '../../cluster/instance-id.js';
import { appConfig } from '../../config/app.config.js';
import { redactUrl } from '../../config/redact.js';
import { pendingLimitOption } from './client-internals.js';
import { natsCredentials } from './credentials.js';

/** While NATS is down, how often the stream is asked whether it takes publishes again. */
const PROBE_MS = 500;

/** Drops user and password from server URLs before they are logged or shown (an unescaped '@' included). */
export function redactServers(servers: string[]): string {
  return servers.map((s) => redactUrl(s)).join(',');
}

export interface NatsHandles {
  nc: NatsConnection;
  jsm: JetStreamManager;
}

@Injectable()
export class NatsClient implements OnApplicationShutdown {
  /** The server URLs without credentials, for logs and errors. */
  readonly servers: string;
  private nc?: NatsConnection;
  private jsm?: JetStreamManager;
  private opening?: Promise<NatsHandles>;
  /** An outage is under way: disconnected, or publishes failed and the stream has not answered since. */
  private outageOn = false;
  private probing?: NodeJS.Timeout;
  /** Between a disconnect and the reconnect: what is published now waits in the client's buffer. */
  private cutOff = false;
  /** Fails a request awaiting its reply (PubAck, KV): its connection is gone, so none comes. */
  private readonly awaiting = new Set<(err: Error) => void>();
  /** Told of every disconnect, before the outage is reported (the publisher fails its pending publishes). */
  private readonly disconnectListeners: ((err: Error) => void)[] = [];

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(NatsClient.name);
    this.servers = redactServers(cfg.natsServers);
  }

  /** Whether an outage is under way. */
  get down(): boolean {
    return this.outageOn;
  }

  /**
   * Disconnected, reconnecting: a request sent now is buffered by the client and its reply, sent
   * to the old connection, is lost; it would fail only at its timeout.
   */
  get disconnected(): boolean {
    return this.cutOff;
  }

  /** The connection and stream manager, once connected (erasure by subject uses them). */
  get handles(): NatsHandles | undefined {
    return this.nc === undefined || this.jsm === undefined ? undefined : { nc: this.nc, jsm: this.jsm };
  }

  /** Connects once (later calls share the first); rejects, with the reason, when NATS or JetStream is missing. */
  open(): Promise<NatsHandles> {
    this.opening ??= this.connect();
    return this.opening;
  }

  onDisconnect(listener: (err: Error) => void): void {
    this.disconnectListeners.push(listener);
  }

  private async connect(): Promise<NatsHandles> {
    const cfg = this.cfg;
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...natsCredentials(cfg.natsServers),
        token: cfg.natsToken,
        name: `cbsa ${INSTANCE_ID}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 250,
        pingInterval: 5000,
        maxPingOut: 2,
        timeout: 5000,
        // No Error (with its stack trace) built per request (KV reads, id leases, stream checks).
        noAsyncTraces: true,
        // A batch's publishes leave in one socket write (client-internals.ts).
        ...pendingLimitOption,
      });
    } catch (err) {
      throw new Error(`NATS unreachable at ${this.servers}: ${(err as Error).message}`, { cause: err });
    }
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: 5000 });
    } catch (err) {
      await nc.close();
      throw new Error(
        `NATS at ${this.servers} has no JetStream (start nats-server with -js, or enable it for this account): ` +
          (err as Error).message,
        { cause: err },
      );
    }
    this.nc = nc;
    this.jsm = jsm;
    void this.watch(nc);
    return { nc, jsm };
  }

  /** Closes the connection at once (startup failed after connecting). */
  async close(): Promise<void> {
    clearTimeout(this.probing);
    if (this.nc !== undefined && !this.nc.isClosed()) await this.nc.close();
  }

  /** Shutdown, last step (the ack queue is drained and the sockets closed with 1001 by now). */
  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.probing);
    if (this.nc === undefined || this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close();
    }
  }

  /**
   * A request cut off by a disconnect, or sent while disconnected, gets no reply on the new
   * connection: fail it at once. Left to its timeout it would fail seconds after the service is
   * ready again, a refusal while healthy.
   */
  guard<T>(request: Promise<T>): Promise<T> {
    // Sent while disconnected: buffered by the client, its reply lost with the old connection.
    if (this.cutOff) {
      request.catch(() => undefined);
      return Promise.reject(new Error('NATS disconnected'));
    }
    let fail!: (err: Error) => void;
    const cutOff = new Promise<never>((_, reject) => (fail = reject));
    this.awaiting.add(fail);
    request.catch(() => undefined);
    return Promise.race([request, cutOff]).finally(() => this.awaiting.delete(fail));
  }

  /** Follows the connection: an outage starts at a disconnect and ends when the stream answers again. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.cutOff = true;
        this.outage('NATS connection lost; retrying');
        const cutOff = [...this.awaiting];
        this.awaiting.clear();
        const lost = new Error('NATS connection lost before the PubAck');
        for (const fail of cutOff) fail(lost);
        for (const listener of this.disconnectListeners) listener(lost);
      } else if (status.type === 'reconnect') {
        this.cutOff = false;
        this.probe();
      }
    }
  }

  /** Starts an outage (one warning for the whole of it) and the probe that ends it. */
  outage(message: string, err?: Error): void {
    if (this.outageOn) return;
    this.outageOn = true;
    this.logger.warn({ nats: this.servers, err: err?.message }, message);
    clearTimeout(this.probing);
    this.probing = setTimeout(() => this.probe(), PROBE_MS);
    this.probing.unref();
  }

  /** Asks the stream whether it has a leader; ends the outage when it does, else asks again later. */
  private probe(): void {
    clearTimeout(this.probing);
    if (!this.outageOn || this.nc === undefined || this.nc.isClosed()) return;
    const again = () => {
      this.probing = setTimeout(() => this.probe(), PROBE_MS);
      this.probing.unref();
    };
    if (this.nc.isDraining()) return;
    this.jsm!.streams.info(this.cfg.natsStream).then(
      (info) => {
        if (info.cluster !== undefined && info.cluster.leader === undefined) return again();
        if (!this.outageOn) return;
        this.outageOn = false;
        this.logger.info({ nats: this.servers }, 'NATS stream available again');
      },
      () => again(),
    );
  }
}
