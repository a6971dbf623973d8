// What every HTTP request to CBSA passes before any route: ALLOWED_HOSTS, no X-Powered-By, the
// page's base path, and the plain GET on a WebSocket path (426, or why an upgrade would be refused).
// Embedded in a host application, requests that are not CBSA's pass through untouched.
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UpgradePolicy } from '../access/upgrade-policy.js';
import { CBSA_OPTIONS, appConfig } from '../config/app.config.js';
import { HTTP_ROUTES } from '../config/schema.js';
import type { ResolvedOptions } from '../config/options.js';
import { parseMonitorParams } from '../monitor/monitor-params.js';

/** True when `path` is `mount` or below it, compared as Express's app.use compares (any case). */
function under(path: string, mount: string): boolean {
  const p = path.toLowerCase();
  const m = mount.toLowerCase();
  return p === m || p.startsWith(m.endsWith('/') ? m : `${m}/`);
}

@Injectable()
export class HttpFront {
  /** Longest first: /ws must not answer for /ws/monitor. */
  private readonly endpoints: readonly ('websocketEndpoint' | 'monitorEndpoint')[];

  constructor(
    adapterHost: HttpAdapterHost,
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    @Inject(CBSA_OPTIONS) private readonly options: ResolvedOptions,
    private readonly policy: UpgradePolicy,
  ) {
    this.endpoints = (['websocketEndpoint', 'monitorEndpoint'] as const).toSorted(
      (a, b) => cfg[b].length - cfg[a].length,
    );
    // Registered while the app is created, so it runs before every route, CBSA's and the host's.
    adapterHost.httpAdapter.use(this.handle);
  }

  /** The path below basePath when the request is CBSA's, else undefined. */
  private ownPath(url: string | undefined): string | undefined {
    const q = url?.indexOf('?') ?? -1;
    const path = (q === -1 ? url : url!.slice(0, q)) ?? '/';
    const base = this.cfg.basePath;
    if (base !== '') return under(path, base) ? path.slice(base.length) : undefined;
    if (this.options.ownsServer || path === '/') return path;
    const own = [...HTTP_ROUTES, this.cfg.websocketEndpoint, this.cfg.monitorEndpoint].some((r) =>
      under(path, r),
    );
    return own ? path : undefined;
  }

  private readonly handle = (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const path = this.ownPath(req.url);
    if (path === undefined) return next();
    // No X-Powered-By: it only tells a scanner what to try (a host keeps its own choice).
    res.removeHeader('X-Powered-By');
    const misdirected = this.policy.hostRefusal(req);
    if (misdirected !== undefined) {
      res.statusCode = misdirected;
      return void res.end();
    }
    // The page loads its scripts relative to its own URL: /cbsa must be /cbsa/.
    if (path === '') {
      const q = req.url!.indexOf('?');
      res.statusCode = 308;
      res.setHeader('Location', `${this.cfg.basePath}/${q === -1 ? '' : req.url!.slice(q)}`);
      return void res.end();
    }
    // A plain GET on a WebSocket path says whether an upgrade would be let in (426) or why not, so
    // the monitor page can tell a missing token (401) from a server that is down.
    const endpoint = this.endpoints.find((e) => under(path, this.cfg[e]));
    if (endpoint === undefined) return next();
    res.statusCode = this.policy.refusal(req, endpoint) ?? 426;
    if (res.statusCode === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    const parsed = endpoint === 'monitorEndpoint' && res.statusCode === 426 && parseMonitorParams(req.url);
    if (parsed && !parsed.ok) {
      res.statusCode = 400;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      return void res.end(parsed.message);
    }
    res.end();
  };
}
