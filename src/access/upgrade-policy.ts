// Who may open a WebSocket, decided on the HTTP upgrade request before any socket exists:
// shutdown, ALLOWED_HOSTS, tokens and streams (AuthService), the monitor's Origin, and connection caps.
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { IncomingMessage } from 'node:http';
import { AuthService } from '../auth/auth.service.js';
import { bearerWithoutVersion } from '../auth/credentials.js';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { STREAM_HEADER, requestedStream } from '../protocol/resume-frames.js';
import { addressGroup } from './address-group.js';
import { ConnectionSlots } from './connection-slots.js';
import { hostAllowed, normalizeOrigin } from './host-check.js';

export type Endpoint = 'websocketEndpoint' | 'monitorEndpoint';

@Injectable()
export class UpgradePolicy {
  private readonly allowedOrigins: Set<string>;
  /** Monitor sockets open on this instance, against MAX_MONITORS. */
  private openMonitors = 0;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly lifecycle: LifecycleService,
    private readonly slots: ConnectionSlots,
    private readonly auth: AuthService,
  ) {
    this.allowedOrigins = new Set(cfg.allowedOrigins.map((o) => normalizeOrigin(o) ?? o));
  }

  /** 421 when ALLOWED_HOSTS is set and the request's Host is not in it (any HTTP request). */
  hostRefusal(request: IncomingMessage): number | undefined {
    return hostAllowed(request.headers.host, this.cfg.allowedHosts) ? undefined : 421;
  }

  /**
   * The HTTP status to refuse this upgrade with, or undefined to let it through. The connection
   * caps are read from this process's own counts here; `admit` takes the slot for the machine.
   */
  refusal(request: IncomingMessage, endpoint: Endpoint): number | undefined {
    if (this.lifecycle.shuttingDown) return 503;
    const misdirected = this.hostRefusal(request);
    if (misdirected !== undefined) return misdirected;
    // A bearer subprotocol needs cbsa.v1 beside it: that is the one the server selects.
    if (bearerWithoutVersion(request)) return 400;
    if (endpoint === 'monitorEndpoint') {
      if (!this.originAllowed(request)) return 403;
      const refused = this.auth.precheck(request, true, undefined);
      if (refused !== undefined) return refused;
      if (this.openMonitors >= this.cfg.maxMonitors) return 503;
      return undefined;
    }
    const stream = requestedStream(request.url, request.headers[STREAM_HEADER]);
    const refused = this.auth.precheck(request, false, stream ?? undefined);
    if (refused !== undefined) return refused;
    if (stream === null) return 400;
    if (!this.auth.ready) return 503;
    return this.slots.local.peek(groupOf(request));
  }

  /**
   * Takes an ingest slot (for the machine, with WORKERS > 1) and returns what gives it back when
   * the socket closes, or the status to refuse with. Monitors count against MAX_MONITORS, per instance.
   */
  async admit(request: IncomingMessage, endpoint: Endpoint): Promise<(() => void) | number> {
    if (endpoint !== 'websocketEndpoint') {
      const refused = await this.auth.admitMonitor(request);
      if (refused !== undefined) return refused;
      if (this.openMonitors >= this.cfg.maxMonitors) return 503;
      this.openMonitors++;
      let left = false;
      return () => {
        if (left) return;
        left = true;
        this.openMonitors--;
      };
    }
    // Who it is and whether the stream is its own, before a slot is taken or any state read.
    const stream = requestedStream(request.url, request.headers[STREAM_HEADER]) ?? undefined;
    const identity = await this.auth.admitIngest(request, stream);
    if (typeof identity === 'number') return identity;
    // JWT mode: MAX_CONNECTIONS_PER_SUBJECT, for the machine like the other caps.
    const sub = identity?.sub;
    if (sub !== undefined) {
      const capped = await this.slots.acquire(sub, 'subject');
      if (capped !== undefined) return this.auth.tooMany(stream, sub, capped);
    }
    const group = groupOf(request);
    const refused = await this.slots.acquire(group);
    if (refused !== undefined) {
      if (sub !== undefined) this.slots.release(sub, 'subject');
      return refused;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.slots.release(group);
      if (sub !== undefined) this.slots.release(sub, 'subject');
    };
  }

  /** Browsers always send Origin: only the server's own origin and ALLOWED_ORIGINS may watch. */
  private originAllowed(request: IncomingMessage): boolean {
    const raw = request.headers.origin;
    if (raw === undefined) return true;
    const origin = normalizeOrigin(raw);
    if (origin === undefined) return false;
    const host = request.headers.host;
    if (host !== undefined) {
      for (const scheme of ['http', 'https']) {
        if (origin === normalizeOrigin(`${scheme}://${host}`)) return true;
      }
    }
    return this.allowedOrigins.has(origin);
  }
}

function groupOf(request: IncomingMessage): string {
  return addressGroup(request.socket.remoteAddress ?? '');
}
