// Which Host headers this service answers (ALLOWED_HOSTS), how origins are compared, and the
// startup warning for a service that is open to the network with no defence on the monitor.
import { isIP } from 'node:net';

/** Lowercase `name` and port (undefined when none was given), or undefined when not a valid Host. */
export function parseHost(host: string | undefined): { name: string; port: string | undefined } | undefined {
  if (host === undefined) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  if (!match) return undefined;
  return { name: match[1].toLowerCase(), port: match[2] };
}

/**
 * True when `host` is allowed by ALLOWED_HOSTS: every Host when the list is empty; otherwise a
 * listed `name` matches that name on any port, a listed `name:port` only that port.
 */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const parsed = parseHost(host);
  if (parsed === undefined) return false;
  return allowed.some((entry) => {
    const listed = parseHost(entry)!;
    return listed.name === parsed.name && (listed.port === undefined || listed.port === parsed.port);
  });
}

/** The origin as browsers compare it: lowercase scheme and host, default port dropped; undefined if not one. */
export function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/** What an operator must be told at startup, or undefined when the monitor is not exposed. */
export function exposureWarning(
  cfg: {
    host: string;
    monitorToken: string | undefined;
    allowedHosts: readonly string[];
    monitorEndpoint: string;
  },
  /** What is bound, as the operator knows it: HOST standalone, the host application's server embedded. */
  subject = `HOST=${cfg.host}`,
): string | undefined {
  if (isLoopback(cfg.host) || cfg.monitorToken !== undefined || cfg.allowedHosts.length > 0) return undefined;
  return (
    `${subject} is reachable from the network and neither MONITOR_TOKEN nor ALLOWED_HOSTS is set: ` +
    `anyone who can reach this port can watch every event's data on ${cfg.monitorEndpoint}, ` +
    'including a web page in a browser on your network through DNS rebinding. ' +
    'Set MONITOR_TOKEN, or ALLOWED_HOSTS to the names this service is reached by.'
  );
}
