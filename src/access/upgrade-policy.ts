// Who may open a WebSocket, decided on the HTTP upgrade request before any socket exists:
// shutdown, tokens (constant-time), the monitor's Origin, and connection caps.
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { STREAM_HEADER, requestedStream } from '../protocol/resume-frames.js';

export type Endpoint = 'websocketEndpoint' | 'monitorEndpoint';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares against every allowed token without an early exit, on fixed-length digests. */
function tokenMatches(candidate: string | undefined, allowed: readonly Buffer[]): boolean {
  const presented = digest(candidate ?? '');
  let match = false;
  for (const token of allowed) match = timingSafeEqual(presented, token) || match;
  return candidate !== undefined && match;
}

export function presentedToken(request: IncomingMessage): string | undefined {
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (bearer) return bearer[1];
  }
  try {
    return new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined;
  } catch {
    return undefined;
  }
}

@Injectable()
export class UpgradePolicy {
  private readonly ingestTokens: Buffer[];
  private readonly monitorTokens: Buffer[];
  private openIngest = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly lifecycle: LifecycleService,
  ) {
    this.ingestTokens = cfg.ingestTokens.map(digest);
    this.monitorTokens = cfg.monitorToken === undefined ? [] : [digest(cfg.monitorToken)];
  }

  /** The HTTP status to refuse this upgrade with, or undefined to let it through. */
  refusal(request: IncomingMessage, endpoint: Endpoint): number | undefined {
    if (this.lifecycle.shuttingDown) return 503;
    if (endpoint === 'monitorEndpoint') {
      if (!this.originAllowed(request)) return 403;
      if (this.monitorTokens.length > 0 && !tokenMatches(presentedToken(request), this.monitorTokens))
        return 401;
      return undefined;
    }
    if (this.ingestTokens.length > 0 && !tokenMatches(presentedToken(request), this.ingestTokens)) return 401;
    if (requestedStream(request.url, request.headers[STREAM_HEADER]) === null) return 400;
    if (this.openIngest >= this.cfg.maxConnections) return 503;
    const ip = request.socket.remoteAddress ?? '';
    if (this.cfg.maxConnectionsPerIp > 0 && (this.perIp.get(ip) ?? 0) >= this.cfg.maxConnectionsPerIp)
      return 429;
    return undefined;
  }

  /** Counts an accepted ingest socket against the caps until it closes. */
  admitted(socket: WebSocket, request: IncomingMessage, endpoint: Endpoint): void {
    if (endpoint !== 'websocketEndpoint') return;
    const ip = request.socket.remoteAddress ?? '';
    this.openIngest++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    socket.once('close', () => {
      this.openIngest--;
      const left = this.perIp.get(ip)! - 1;
      if (left === 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
  }

  /** Browsers always send Origin: only the server's own origin and ALLOWED_ORIGINS may watch. */
  private originAllowed(request: IncomingMessage): boolean {
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    const host = request.headers.host;
    if (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) return true;
    return this.cfg.allowedOrigins.includes(origin);
  }
}
