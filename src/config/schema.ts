// Every environment variable the service reads, declared once: type, default, bounds, secrecy, a
// one-line description and its area. The parser (env.ts), its errors, docs/configuration.md's
// table and .env.example all come from here (`npm run config:docs`).
import { createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { DEFAULT_INGEST_PATH, DEFAULT_MONITOR_PATH } from '../protocol/paths.js';
import { ID_SLOTS, ID_SLOTS_MAX, maxBurst } from '../stream/id-source.js';
import { ENTRY_MIN_BYTES } from '../stream/stream-state.js';
import { choice, custom, flag, int, list, optional, type Rule, text } from './setting.js';

export const PACKAGE_ROOT = join(import.meta.dirname, '..', '..');

export const LOG_LEVELS = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'fatal',
} as const;

export type PinoLevel = (typeof LOG_LEVELS)[keyof typeof LOG_LEVELS];

const MiB = 1024 * 1024;
const DAY_S = 24 * 3600;

/** V8's heap limit for this process (--max-old-space-size), which the in-memory stream state must fit. */
const HEAP_LIMIT_BYTES = getHeapStatistics().heap_size_limit;
/** The share of the heap stream state may take without Redis or NATS: the rest is for connections. */
const STREAM_STATE_HEAP_SHARE = 0.5;
const STREAM_STATE_HEAP_BYTES = Math.floor(HEAP_LIMIT_BYTES * STREAM_STATE_HEAP_SHARE);

/**
 * HTTP routes a WebSocket path must not shadow: the 426 probe on an endpoint path is mounted with
 * `app.use`, which matches the path and everything below it, case-insensitively.
 */
export const HTTP_ROUTES: readonly string[] = [
  '/health',
  '/metrics',
  '/event-flow-map',
  '/openapi.json',
  '/config.json',
  '/vendor',
  ...readdirSync(join(PACKAGE_ROOT, 'public')).map((name) => `/${name}`),
];

function normalPath(path: string): string {
  return path.toLowerCase().replace(/\/+$/, '');
}

/** True when serving a WebSocket probe at `path` would hide an HTTP route, or `/` itself. */
export function shadowsRoute(path: string): boolean {
  const p = normalPath(path);
  if (p === '') return true;
  return HTTP_ROUTES.some((r) => r === p || r.startsWith(`${p}/`) || p.startsWith(`${r}/`));
}

function wsPath(env: string, fallback: string, description: string) {
  return custom({
    env,
    area: 'core',
    description,
    default: fallback,
    accepts: 'a URL path starting with "/" that hides no HTTP route',
    schema: z
      .string()
      .regex(/^\/[A-Za-z0-9\-._~/]*$/)
      .refine((p) => !shadowsRoute(p), {
        message: `a path that hides no HTTP route (not /, ${HTTP_ROUTES.join(', ')} or below them)`,
      }),
  });
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export const TOKEN_MIN_LENGTH = 16;
export const ADMIN_TOKEN_MIN_LENGTH = 32;
export const POLICY_HASH_KEY_MIN_LENGTH = 16;
export const JWT_SECRET_MIN_BYTES = 32;

/**
 * The JWS algorithms a PEM public key may verify, by its type (never HS*: a public key is no
 * secret), or undefined when it is not a public key this service takes.
 */
export function publicKeyAlgorithms(pem: string): string[] | undefined {
  let key;
  try {
    key = createPublicKey(pem);
  } catch {
    return undefined;
  }
  if (key.type !== 'public') return undefined;
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return ['EdDSA', 'Ed25519'];
  if (type === 'rsa') return ['RS256'];
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const alg = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[curve ?? ''];
    return alg === undefined ? undefined : [alg];
  }
  return undefined;
}

/** Adding a variable: declare it here (and a rule below if it depends on others); run `npm run config:docs`. */
export const SETTINGS = {
  // --- core ---
  appName: text({
    env: 'APP_NAME',
    area: 'core',
    default: 'CBSA Backend',
    description: "Name in the monitor's hello frame, /health and every log line",
  }),
  version: text({
    env: 'VERSION',
    area: 'core',
    default: packageVersion(),
    defaultDoc: 'version in package.json',
    description: "Version in the monitor's hello frame, /health and every log line",
  }),
  host: text({
    env: 'HOST',
    area: 'core',
    default: '0.0.0.0',
    accepts: 'an interface address or host name',
    description: 'Interface to bind',
  }),
  port: int({
    env: 'PORT',
    area: 'core',
    default: 8000,
    min: 0,
    max: 65535,
    description: 'Port to listen on (0 picks a free port)',
  }),
  listenBacklog: int({
    env: 'LISTEN_BACKLOG',
    area: 'core',
    default: 4096,
    min: 1,
    max: 65535,
    description:
      'Connections the kernel queues per listening socket (each worker has its own) until they are accepted; capped by net.core.somaxconn',
  }),
  logLevel: choice({
    env: 'LOG_LEVEL',
    area: 'core',
    choices: Object.keys(LOG_LEVELS) as (keyof typeof LOG_LEVELS)[],
    default: 'INFO',
    to: (level): PinoLevel => LOG_LEVELS[level],
    description: 'Least severe level logged, any case (pino debug, info, warn, error, fatal)',
  }),
  logFormat: choice({
    env: 'LOG_FORMAT',
    area: 'core',
    choices: ['json', 'pretty'],
    default: 'json',
    description: 'json: one JSON object per line; pretty: human-readable, for development',
  }),
  basePath: custom({
    env: 'BASE_PATH',
    area: 'core',
    default: '',
    defaultDoc: 'empty (served at /)',
    accepts: 'a URL path such as /cbsa, without a trailing slash',
    schema: z
      .string()
      .transform((raw) => raw.trim())
      .pipe(z.string().regex(/^(\/[A-Za-z0-9\-._~]+)*$/)),
    description:
      'Prefix of every path the service serves: the page, /health, /metrics, /openapi.json and both WebSocket endpoints',
  }),
  websocketEndpoint: wsPath('WEBSOCKET_ENDPOINT', DEFAULT_INGEST_PATH, 'Path of the ingest WebSocket'),
  monitorEndpoint: wsPath(
    'MONITOR_ENDPOINT',
    DEFAULT_MONITOR_PATH,
    'Path of the monitor WebSocket; different from the ingest path',
  ),
  maxMessageBytes: int({
    env: 'MAX_MESSAGE_BYTES',
    area: 'core',
    default: 1 * MiB,
    min: 1,
    max: 16 * MiB,
    description: 'Largest accepted frame (at most 16 MiB); a larger one closes the connection with 1009',
  }),
  flowMapFile: optional({
    env: 'FLOW_MAP_FILE',
    area: 'core',
    accepts: 'a path to a flow-map JSON file',
    defaultDoc: 'bundled default map',
    description: 'A replacement event flow map',
  }),
  heartbeatIntervalMs: int({
    env: 'HEARTBEAT_INTERVAL_MS',
    area: 'core',
    default: 30_000,
    min: 0,
    max: 3_600_000,
    description: 'Ping interval; a socket that missed the previous ping is dropped (0: off)',
  }),
  shutdownTimeoutMs: int({
    env: 'SHUTDOWN_TIMEOUT_MS',
    area: 'core',
    default: 10_000,
    min: 100,
    max: 3_600_000,
    description: 'Longest a graceful shutdown may take',
  }),

  // --- monitor ---
  monitorFlushMs: int({
    env: 'MONITOR_FLUSH_MS',
    area: 'monitor',
    default: 50,
    min: 1,
    max: 60_000,
    description: 'A monitor gets one events frame per flush interval...',
  }),
  monitorBatchMax: int({
    env: 'MONITOR_BATCH_MAX',
    area: 'monitor',
    default: 256,
    min: 1,
    max: 100_000,
    description: '...or sooner, when this many events are pending',
  }),
  monitorMaxBufferBytes: int({
    env: 'MONITOR_MAX_BUFFER_BYTES',
    area: 'monitor',
    default: 4 * MiB,
    min: 1024,
    max: 1024 * MiB,
    description: 'A monitor with more bytes queued has events dropped (counted in its stats)...',
  }),
  monitorSlowTimeoutMs: int({
    env: 'MONITOR_SLOW_TIMEOUT_MS',
    area: 'monitor',
    default: 10_000,
    min: 100,
    max: 3_600_000,
    description: '...and is disconnected when it stays over the limit this long',
  }),
  monitorReplay: int({
    env: 'MONITOR_REPLAY',
    area: 'monitor',
    default: 200,
    min: 0,
    max: 10_000,
    description:
      'A new monitor first gets up to this many earlier events, marked "replay": true (with Redis: the cluster\'s); 0 turns it off',
  }),
  maxMonitors: int({
    env: 'MAX_MONITORS',
    area: 'monitor',
    default: 100,
    min: 1,
    max: 100_000,
    description: 'Monitor sockets at once per instance; more get HTTP 503',
  }),

  monitorFrameMaxBytes: int({
    env: 'MONITOR_FRAME_MAX_BYTES',
    area: 'monitor',
    default: 1 * MiB,
    min: 16 * 1024,
    max: 64 * MiB,
    description:
      'Events frames to monitors are split so each stays under this size (one oversized event excepted)',
  }),
  monitorEventMaxBytes: int({
    env: 'MONITOR_EVENT_MAX_BYTES',
    area: 'monitor',
    default: 64 * 1024,
    min: 1024,
    max: 16 * MiB,
    description:
      'Events larger than this (or than MONITOR_FRAME_MAX_BYTES) reach monitors as a preview with "truncated": true; ingest and sink unaffected',
  }),

  // --- security ---
  ingestTokens: list({
    env: 'INGEST_TOKENS',
    area: 'security',
    secret: 'value',
    accepts: `comma-separated tokens of at least ${TOKEN_MIN_LENGTH} characters`,
    defaultDoc: 'empty (ingest open)',
    description: 'When set, the ingest path needs one of them (Authorization: Bearer, or ?token=)',
  }),
  monitorToken: optional({
    env: 'MONITOR_TOKEN',
    area: 'security',
    secret: 'value',
    accepts: `a token of at least ${TOKEN_MIN_LENGTH} characters`,
    defaultDoc: 'empty (monitor open)',
    description: 'When set, the monitor path needs this token the same way',
  }),
  allowWeakTokens: flag({
    env: 'ALLOW_WEAK_TOKENS',
    area: 'security',
    default: false,
    description: `1 accepts tokens shorter than ${TOKEN_MIN_LENGTH} characters (development only)`,
  }),
  allowedOrigins: list({
    env: 'ALLOWED_ORIGINS',
    area: 'security',
    item: /^https?:\/\/[^/\s]+$/,
    accepts: 'comma-separated origins such as https://monitor.example.com',
    description: "Origins allowed on the monitor besides the server's own",
  }),
  allowedHosts: list({
    env: 'ALLOWED_HOSTS',
    area: 'security',
    item: /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/,
    lowercase: true,
    accepts: 'comma-separated host names, optionally with a port (monitor.example.com, localhost:8000)',
    defaultDoc: 'empty (any Host)',
    description: 'When set, HTTP requests and upgrades whose Host is not listed get 421 (DNS rebinding)',
  }),
  // --- authentication (JWT mode: one of the three key sources) ---
  authJwksUrl: optional({
    env: 'AUTH_JWKS_URL',
    area: 'security',
    secret: 'credentials',
    pattern: /^https?:\/\/\S+$/,
    accepts: 'an http(s) URL of a JSON Web Key Set',
    defaultDoc: 'empty (no JWT)',
    description:
      'JWT mode: ingest tokens are JWTs signed by a key of this JWKS (fetched with a timeout, cached, fetched again on an unknown kid)',
  }),
  authJwtPublicKey: custom<string | undefined>({
    env: 'AUTH_JWT_PUBLIC_KEY',
    area: 'security',
    default: undefined,
    defaultDoc: 'empty (no JWT)',
    accepts: 'a PEM public key (EC P-256/384/521, Ed25519 or RSA; "\\n" for line breaks is accepted)',
    schema: z
      .string()
      .transform((raw) => raw.trim().replace(/\\n/g, '\n'))
      .pipe(
        z.union([
          z.literal('').transform(() => undefined),
          z.string().refine((pem) => publicKeyAlgorithms(pem) !== undefined, {
            message: 'a PEM public key (EC P-256/384/521, Ed25519 or RSA)',
          }),
        ]),
      ),
    description: 'JWT mode: ingest tokens are JWTs signed by the private half of this key',
  }),
  authJwtSecret: custom<string | undefined>({
    env: 'AUTH_JWT_SECRET',
    area: 'security',
    secret: 'value',
    default: undefined,
    defaultDoc: 'empty (no JWT)',
    accepts: `a secret of at least ${JWT_SECRET_MIN_BYTES} bytes`,
    schema: z
      .string()
      .transform((raw) => raw.trim())
      .pipe(
        z.union([
          z.literal('').transform(() => undefined),
          z.string().refine((secret) => Buffer.byteLength(secret) >= JWT_SECRET_MIN_BYTES, {
            message: `a secret of at least ${JWT_SECRET_MIN_BYTES} bytes`,
          }),
        ]),
      ),
    description: 'JWT mode: ingest tokens are JWTs signed with HS256 and this secret',
  }),
  authJwtIssuer: optional({
    env: 'AUTH_JWT_ISSUER',
    area: 'security',
    accepts: 'the exact `iss` your token issuer writes',
    description: 'JWT mode (required): tokens must carry this `iss`',
  }),
  authJwtAudience: optional({
    env: 'AUTH_JWT_AUDIENCE',
    area: 'security',
    accepts: 'the exact `aud` your token issuer writes for this service',
    description: 'JWT mode (required): tokens must carry this `aud`',
  }),
  authClockToleranceS: int({
    env: 'AUTH_CLOCK_TOLERANCE_S',
    area: 'security',
    default: 30,
    min: 0,
    max: 3600,
    description:
      'Clock skew allowed on `exp` and `nbf`; a connection is closed with 4003 this long after `exp`',
  }),
  authAllowQueryToken: flag({
    env: 'AUTH_ALLOW_QUERY_TOKEN',
    area: 'security',
    default: false,
    description:
      'JWT mode: 1 also accepts ?token= on the ingest path (URLs end up in proxy logs; prefer the header or subprotocol)',
  }),
  authJwksTimeoutMs: int({
    env: 'AUTH_JWKS_TIMEOUT_MS',
    area: 'security',
    default: 5000,
    min: 100,
    max: 60_000,
    description: 'A JWKS fetch that takes longer fails',
  }),
  authJwksRefetchS: int({
    env: 'AUTH_JWKS_REFETCH_S',
    area: 'security',
    default: 30,
    min: 1,
    max: 3600,
    description: 'A token with an unknown `kid` fetches the JWKS again at most this often',
  }),
  authJwksMaxAgeS: int({
    env: 'AUTH_JWKS_MAX_AGE_S',
    area: 'security',
    default: 600,
    min: 10,
    max: 7 * DAY_S,
    description:
      'The JWKS is fetched again in the background after this long (keys rotate without a restart)',
  }),
  authVerifyThreads: int({
    env: 'AUTH_VERIFY_THREADS',
    area: 'security',
    default: 1,
    min: 0,
    max: 16,
    description:
      'JWT mode: worker threads that check token signatures, off the event loop that serves frames (0: on it)',
  }),
  maxConnectionsPerSubject: int({
    env: 'MAX_CONNECTIONS_PER_SUBJECT',
    area: 'security',
    default: 8,
    min: 1,
    max: 1_000_000,
    description:
      'JWT mode: ingest sockets at once per token `sub` on this instance (all its workers); more get HTTP 429',
  }),
  maxSeqGap: int({
    env: 'MAX_SEQ_GAP',
    area: 'security',
    default: 100_000,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    description:
      'A frame whose seq is more than this above its stream\'s known last seq gets "Invalid seq" (a stream with no known state takes any first seq)',
  }),
  clientStallTimeoutMs: int({
    env: 'CLIENT_STALL_TIMEOUT_MS',
    area: 'security',
    default: 30_000,
    min: 100,
    max: 3_600_000,
    description:
      'A client socket paused for backpressure (not reading its acks) this long is closed with 1008',
  }),
  maxConnections: int({
    env: 'MAX_CONNECTIONS',
    area: 'security',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    description: 'Ingest sockets at once; more get HTTP 503',
  }),
  fdHeadroom: int({
    env: 'FD_HEADROOM',
    area: 'security',
    default: 256,
    min: 0,
    max: 1_000_000,
    description:
      'File descriptors kept free for monitors, Redis, HTTP and logs: ingest sockets are capped at the open-files limit less this',
  }),
  maxConnectionsPerIp: int({
    env: 'MAX_CONNECTIONS_PER_IP',
    area: 'security',
    default: 0,
    min: 0,
    max: 10_000_000,
    description: 'Ingest sockets at once per remote address; more get HTTP 429 (0: off)',
  }),
  rateLimitPerConnection: int({
    env: 'RATE_LIMIT_PER_CONNECTION',
    area: 'security',
    default: 0,
    min: 0,
    max: 10_000_000,
    description: 'Frames per second per ingest connection, a token bucket (0: off)',
  }),
  rateLimitBurst: int({
    env: 'RATE_LIMIT_BURST',
    area: 'security',
    default: 0,
    defaultFrom: 'rateLimitPerConnection',
    defaultDoc: 'the rate (RATE_LIMIT_PER_CONNECTION)',
    min: 0,
    max: 10_000_000,
    description: 'Bucket depth: frames a connection may send at once',
  }),
  rateLimitCloseAfterMs: int({
    env: 'RATE_LIMIT_CLOSE_AFTER_MS',
    area: 'security',
    default: 10_000,
    min: 0,
    max: 3_600_000,
    description: 'A connection still over the rate limit this long is closed with 1008',
  }),
  clientMaxBufferBytes: int({
    env: 'CLIENT_MAX_BUFFER_BYTES',
    area: 'security',
    default: 1 * MiB,
    min: 1024,
    max: 1024 * MiB,
    description:
      'Bytes queued to a client that is not reading (acks, pongs) before its socket stops being read',
  }),
  httpMaxHeaders: int({
    env: 'HTTP_MAX_HEADERS',
    area: 'security',
    default: 100,
    min: 10,
    max: 10_000,
    description: 'Most headers in one HTTP request; more get HTTP 431',
  }),
  httpMaxHeaderBytes: int({
    env: 'HTTP_MAX_HEADER_BYTES',
    area: 'security',
    default: 16 * 1024,
    min: 1024,
    max: 1 * MiB,
    description: 'Largest HTTP header block (requests and upgrades); larger gets HTTP 431',
  }),

  // --- scale-out ---
  workers: int({
    env: 'WORKERS',
    area: 'scale-out',
    default: 1,
    min: 1,
    max: 256,
    description: 'Worker processes sharing the port (node:cluster); more than 1 needs REDIS_URL',
  }),
  redisUrl: optional({
    env: 'REDIS_URL',
    area: 'scale-out',
    secret: 'credentials',
    pattern: /^rediss?:\/\/\S+$/,
    accepts: 'a URL such as redis://127.0.0.1:6379/0',
    defaultDoc: 'empty (no Redis)',
    description: 'Enables the bus, cluster counts and id leases (rediss:// for TLS)',
  }),
  redisPrefix: text({
    env: 'REDIS_PREFIX',
    area: 'scale-out',
    default: 'cbsa:',
    description: 'Prefix of every Redis key and channel',
  }),
  idBlockSize: int({
    env: 'ID_BLOCK_SIZE',
    area: 'scale-out',
    default: 1_000_000,
    min: 1,
    max: 30_000_000_000,
    description:
      "Message ids a process may hand out ahead of its id slot's share of the clock (1,000,000 / ID_SLOTS ids/s), with REDIS_URL or SINK=nats: a burst allowance that refills at that rate; ID_BLOCK_SIZE × ID_SLOTS must stay under 6·10^11; every process sharing the log must use the same value",
  }),
  idSlots: int({
    env: 'ID_SLOTS',
    area: 'scale-out',
    default: ID_SLOTS,
    min: 1,
    max: ID_SLOTS_MAX,
    description:
      'Slots the message id space is cut into, with REDIS_URL or SINK=nats: each process (workers included) leases one, so at most this many share one Redis or NATS stream, and each follows the clock at 1,000,000 / ID_SLOTS ids/s (plus its ID_BLOCK_SIZE burst allowance); every process sharing the log must use the same value',
  }),
  idSlotTtlMs: int({
    env: 'ID_SLOT_TTL_MS',
    area: 'scale-out',
    default: 2000,
    min: 400,
    max: 600_000,
    description:
      "Lifetime of a process's id slot lease: it hands out ids for 3/4 of it without reaching Redis (or NATS), and a process starting waits about this long for its first id; every process sharing the log must use the same value",
  }),

  // --- durable sinks ---
  sink: choice({
    env: 'SINK',
    area: 'durable sinks',
    choices: ['none', 'redis-stream', 'nats'],
    default: 'none',
    description:
      'Durable handoff before the ack: redis-stream needs REDIS_URL, nats publishes to NATS_URL (a local server by default)',
  }),
  // --- Evidence integrity ---
  streamMaxlen: int({
    env: 'STREAM_MAXLEN',
    area: 'durable sinks',
    default: 0,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    description:
      'Length the Redis Stream is trimmed towards (0: never), never past an entry a consumer group has not acknowledged',
  }),
  streamStateMax: int({
    env: 'STREAM_STATE_MAX',
    area: 'durable sinks',
    default: 1_000_000,
    min: 1,
    max: 100_000_000,
    description:
      'Resumable streams whose last seq is kept in memory without Redis (least recently used go first); at most what half the heap holds at 150 B each',
  }),
  streamStateMaxBytes: int({
    env: 'STREAM_STATE_MAX_BYTES',
    area: 'durable sinks',
    default: Math.min(256 * MiB, Math.floor(HEAP_LIMIT_BYTES / 4)),
    defaultDoc: '256 MiB, or a quarter of the heap if less',
    min: 64 * 1024,
    max: 64 * 1024 * MiB,
    description:
      'The same bound in estimated heap bytes (140 B plus 2 per stream id character each); at most half the heap',
  }),
  streamStateTtlS: int({
    env: 'STREAM_STATE_TTL_S',
    area: 'durable sinks',
    default: 7 * DAY_S,
    min: 1,
    max: 3650 * DAY_S,
    description: "A stream's resume state expires after this many seconds without events",
  }),
  sinkQueueMax: int({
    env: 'SINK_QUEUE_MAX',
    area: 'durable sinks',
    default: 20_000,
    min: 1,
    max: 10_000_000,
    description:
      'Frames waiting for their append past which ingest sockets stop being read (nothing is refused)',
  }),
  sinkQueueMaxBytes: int({
    env: 'SINK_QUEUE_MAX_BYTES',
    area: 'durable sinks',
    default: 64 * 1024 * 1024,
    min: 1024,
    max: 1024 ** 3,
    description: 'The same bound in bytes of frame text',
  }),
  sinkPipeline: int({
    env: 'SINK_PIPELINE',
    area: 'durable sinks',
    default: 4,
    min: 1,
    max: 64,
    description:
      'Append batches in flight at once with SINK=redis-stream or SINK=nats (replies still leave in frame order; 1: one at a time)',
  }),
  sinkReadyMaxAgeMs: int({
    env: 'SINK_READY_MAX_AGE_MS',
    area: 'durable sinks',
    default: 5000,
    min: 10,
    max: 3_600_000,
    description: '/health/ready answers 503 while the oldest pending append is older than this',
  }),
  redisCommandTimeoutMs: int({
    env: 'REDIS_COMMAND_TIMEOUT_MS',
    area: 'durable sinks',
    default: 2000,
    min: 10,
    max: 600_000,
    description: 'Every Redis command fails after this long without a reply (a stalled Redis)',
  }),
  // --- end evidence integrity ---
  natsServers: list({
    env: 'NATS_URL',
    area: 'durable sinks',
    secret: 'credentials',
    item: /^(nats|tls|wss?):\/\/\S+$/,
    accepts: 'comma-separated URLs such as nats://127.0.0.1:4222',
    default: ['nats://127.0.0.1:4222'],
    description: 'NATS servers for SINK=nats (several for a cluster; user and password may be in the URL)',
  }),
  natsToken: optional({
    env: 'NATS_TOKEN',
    area: 'durable sinks',
    secret: 'value',
    accepts: 'a token',
    description: 'Token to authenticate to NATS, if the servers need one',
  }),
  natsStream: custom({
    env: 'NATS_STREAM',
    area: 'durable sinks',
    default: 'CBSA',
    accepts: 'a JetStream stream name of letters, digits, "-" and "_" (at most 64)',
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    description: 'JetStream stream the events are published to (created when missing)',
  }),
  natsSubject: custom({
    env: 'NATS_SUBJECT',
    area: 'durable sinks',
    default: 'cbsa.events',
    accepts: 'a NATS subject without wildcards, such as cbsa.events',
    schema: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/),
    description: 'Subject the events are published on',
  }),
  natsReplicas: int({
    env: 'NATS_REPLICAS',
    area: 'durable sinks',
    default: 1,
    min: 1,
    max: 5,
    description: 'Replicas of the stream (3 in a cluster)',
  }),
  natsDuplicateWindowS: int({
    env: 'NATS_DUPLICATE_WINDOW_S',
    area: 'durable sinks',
    default: 120,
    min: 1,
    max: 7 * DAY_S,
    description: 'JetStream duplicate window: a resend within it is stored once',
  }),
  natsMaxAgeS: int({
    env: 'NATS_MAX_AGE_S',
    area: 'durable sinks',
    default: 7 * DAY_S,
    min: 0,
    max: 3650 * DAY_S,
    description: 'Retention of the stream in seconds (0: keep forever)',
  }),

  // --- privacy (docs/privacy.md) ---
  eventPolicyFile: optional({
    env: 'EVENT_POLICY_FILE',
    area: 'privacy',
    accepts: 'a path to a policy JSON file ({"rules":[...]})',
    defaultDoc: 'none (events stored and shown as sent)',
    description:
      'Field policy applied to every event before the log, the monitors and the Redis bus (drop, hash, round, allow)',
  }),
  eventSchemasDir: optional({
    env: 'EVENT_SCHEMAS_DIR',
    area: 'privacy',
    accepts: 'a directory of <category>.json JSON Schemas',
    defaultDoc: 'none (any JSON is accepted)',
    description:
      'Events failing their category\'s schema go to the quarantine log, acked "quarantined" (needs a SINK)',
  }),
  policyHashKey: optional({
    env: 'POLICY_HASH_KEY',
    area: 'privacy',
    secret: 'value',
    accepts: `a key of at least ${POLICY_HASH_KEY_MIN_LENGTH} characters`,
    description: 'HMAC-SHA256 key of the policy\'s "hash" rules (needed when a rule hashes)',
  }),
  monitorData: choice({
    env: 'MONITOR_DATA',
    area: 'privacy',
    choices: ['full', 'policy', 'none'],
    default: 'full',
    description:
      'Event data on monitors: full (as stored), policy (as stored, and EVENT_POLICY_FILE required), none (no event data at all)',
  }),
  adminToken: optional({
    env: 'ADMIN_TOKEN',
    area: 'privacy',
    secret: 'value',
    accepts: `a token of at least ${ADMIN_TOKEN_MIN_LENGTH} characters`,
    defaultDoc: 'empty (no admin endpoint, no subject index)',
    description:
      'Enables DELETE /admin/subjects/{sub}/events (Authorization: Bearer) and the per-subject index it uses',
  }),
  retentionMaxAgeS: int({
    env: 'RETENTION_MAX_AGE_S',
    area: 'privacy',
    default: 0,
    min: 0,
    max: 3650 * DAY_S,
    description:
      'Entries older than this are deleted from the log, read by consumers or not (0: none; NATS: the stream max_age)',
  }),
  natsAllowLimits: flag({
    env: 'NATS_ALLOW_LIMITS',
    area: 'durable sinks',
    default: false,
    description:
      '1 starts even when the stream has limits that can delete acked events before consumers read them (max_msgs_per_subject, max_msgs or max_bytes with discard old, a max_age shorter than NATS_MAX_AGE_S): acked evidence may then be lost, and a resend after the duplicate window stored twice',
  }),
};

type Settings = typeof SETTINGS;
export type AppConfig = { [K in keyof Settings]: Settings[K]['default'] };

/** How many JWT key sources are set: 0 (static tokens or open), 1 (JWT mode), more (an error). */
export function jwtKeySources(c: AppConfig): number {
  return [c.authJwksUrl, c.authJwtPublicKey, c.authJwtSecret].filter((v) => v !== undefined).length;
}

/** Rules across settings, checked once every setting they use is valid on its own. */
export const RULES: readonly Rule<AppConfig>[] = [
  {
    variable: 'WORKERS',
    uses: ['WORKERS', 'REDIS_URL'],
    expected:
      "1 unless REDIS_URL is set: without the Redis bus each monitor would see only its own worker's events",
    broken: (c) => c.workers > 1 && c.redisUrl === undefined,
  },
  {
    variable: 'SINK',
    uses: ['SINK', 'REDIS_URL'],
    expected: 'none unless REDIS_URL is set: the redis-stream sink writes to Redis',
    broken: (c) => c.sink === 'redis-stream' && c.redisUrl === undefined,
  },
  {
    variable: 'SINK',
    uses: ['SINK', 'NATS_URL'],
    expected: 'not nats while NATS_URL names no server: the nats sink publishes to NATS',
    broken: (c) => c.sink === 'nats' && c.natsServers.length === 0,
  },
  {
    variable: 'RATE_LIMIT_BURST',
    uses: ['RATE_LIMIT_BURST', 'RATE_LIMIT_PER_CONNECTION'],
    expected: 'an integer of at least 1 when RATE_LIMIT_PER_CONNECTION is set',
    broken: (c) => c.rateLimitPerConnection > 0 && c.rateLimitBurst < 1,
  },
  {
    variable: 'MONITOR_ENDPOINT',
    uses: ['MONITOR_ENDPOINT', 'WEBSOCKET_ENDPOINT'],
    expected: 'a path different from WEBSOCKET_ENDPOINT',
    broken: (c) => normalPath(c.websocketEndpoint) === normalPath(c.monitorEndpoint),
  },
  {
    variable: 'INGEST_TOKENS',
    uses: ['INGEST_TOKENS', 'ALLOW_WEAK_TOKENS'],
    expected: `tokens of at least ${TOKEN_MIN_LENGTH} characters each (ALLOW_WEAK_TOKENS=1 allows shorter ones for development)`,
    broken: (c) => !c.allowWeakTokens && c.ingestTokens.some((t) => t.length < TOKEN_MIN_LENGTH),
  },
  {
    variable: 'MONITOR_TOKEN',
    uses: ['MONITOR_TOKEN', 'ALLOW_WEAK_TOKENS'],
    expected: `a token of at least ${TOKEN_MIN_LENGTH} characters (ALLOW_WEAK_TOKENS=1 allows a shorter one for development)`,
    broken: (c) =>
      !c.allowWeakTokens && c.monitorToken !== undefined && c.monitorToken.length < TOKEN_MIN_LENGTH,
  },
  {
    variable: 'INGEST_TOKENS',
    uses: ['INGEST_TOKENS', 'AUTH_JWKS_URL', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_JWT_SECRET'],
    expected:
      'empty when JWT auth is on (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET): INGEST_TOKENS and JWT auth cannot be set together',
    broken: (c) => c.ingestTokens.length > 0 && jwtKeySources(c) > 0,
  },
  {
    variable: 'AUTH_JWKS_URL',
    uses: ['AUTH_JWKS_URL', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_JWT_SECRET'],
    expected: 'only one of AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY and AUTH_JWT_SECRET',
    broken: (c) => jwtKeySources(c) > 1,
  },
  {
    variable: 'AUTH_JWT_ISSUER',
    uses: ['AUTH_JWT_ISSUER', 'AUTH_JWKS_URL', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_JWT_SECRET'],
    expected: 'set when JWT auth is on (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET)',
    broken: (c) => jwtKeySources(c) > 0 && c.authJwtIssuer === undefined,
  },
  {
    variable: 'AUTH_JWT_AUDIENCE',
    uses: ['AUTH_JWT_AUDIENCE', 'AUTH_JWKS_URL', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_JWT_SECRET'],
    expected: 'set when JWT auth is on (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET)',
    broken: (c) => jwtKeySources(c) > 0 && c.authJwtAudience === undefined,
  },
  {
    variable: 'STREAM_STATE_MAX',
    uses: ['STREAM_STATE_MAX', 'REDIS_URL', 'SINK'],
    expected: `at most ${Math.floor(STREAM_STATE_HEAP_BYTES / ENTRY_MIN_BYTES)} without Redis or NATS: half this process's heap (${Math.round(HEAP_LIMIT_BYTES / MiB)} MiB, --max-old-space-size) at ${ENTRY_MIN_BYTES} B a stream`,
    broken: (c) =>
      c.redisUrl === undefined &&
      c.sink !== 'nats' &&
      c.streamStateMax * ENTRY_MIN_BYTES > STREAM_STATE_HEAP_BYTES,
  },
  {
    variable: 'STREAM_STATE_MAX_BYTES',
    uses: ['STREAM_STATE_MAX_BYTES', 'REDIS_URL', 'SINK'],
    expected: `at most ${STREAM_STATE_HEAP_BYTES} without Redis or NATS: half this process's heap (${Math.round(HEAP_LIMIT_BYTES / MiB)} MiB, --max-old-space-size)`,
    broken: (c) =>
      c.redisUrl === undefined && c.sink !== 'nats' && c.streamStateMaxBytes > STREAM_STATE_HEAP_BYTES,
  },
  {
    variable: 'NATS_DUPLICATE_WINDOW_S',
    uses: ['NATS_DUPLICATE_WINDOW_S', 'NATS_MAX_AGE_S'],
    expected: 'at most NATS_MAX_AGE_S: JetStream refuses a duplicate window longer than the retention',
    broken: (c) => c.natsMaxAgeS > 0 && c.natsDuplicateWindowS > c.natsMaxAgeS,
  },
  {
    variable: 'EVENT_SCHEMAS_DIR',
    uses: ['EVENT_SCHEMAS_DIR', 'SINK'],
    expected:
      'set only with SINK=redis-stream or SINK=nats: quarantined events are stored in a quarantine log',
    broken: (c) => c.eventSchemasDir !== undefined && c.sink === 'none',
  },
  {
    variable: 'ADMIN_TOKEN',
    uses: ['ADMIN_TOKEN'],
    expected: `a token of at least ${ADMIN_TOKEN_MIN_LENGTH} characters (it can erase data)`,
    broken: (c) => c.adminToken !== undefined && c.adminToken.length < ADMIN_TOKEN_MIN_LENGTH,
  },
  {
    variable: 'POLICY_HASH_KEY',
    uses: ['POLICY_HASH_KEY'],
    expected: `a key of at least ${POLICY_HASH_KEY_MIN_LENGTH} characters`,
    broken: (c) => c.policyHashKey !== undefined && c.policyHashKey.length < POLICY_HASH_KEY_MIN_LENGTH,
  },
  {
    variable: 'MONITOR_DATA',
    uses: ['MONITOR_DATA', 'EVENT_POLICY_FILE'],
    expected:
      'full or none unless EVENT_POLICY_FILE is set: "policy" shows data only as a policy transformed it',
    broken: (c) => c.monitorData === 'policy' && c.eventPolicyFile === undefined,
  },
  {
    variable: 'NATS_MAX_AGE_S',
    uses: ['NATS_MAX_AGE_S', 'RETENTION_MAX_AGE_S', 'SINK'],
    expected:
      'equal to RETENTION_MAX_AGE_S when both are set with SINK=nats: the stream max_age is the retention',
    broken: (c) => c.sink === 'nats' && c.retentionMaxAgeS > 0 && c.natsMaxAgeS !== c.retentionMaxAgeS,
  },
  {
    variable: 'ID_BLOCK_SIZE',
    uses: ['ID_BLOCK_SIZE', 'ID_SLOTS', 'ID_SLOT_TTL_MS'],
    expected: (c) =>
      `at most ${maxBurst(c.idSlotTtlMs, c.idSlots)} with ID_SLOTS=${c.idSlots} and ID_SLOT_TTL_MS=${c.idSlotTtlMs}: ids may run ahead of the clock by ID_BLOCK_SIZE × ID_SLOTS, which must stay under 6·10^11`,
    broken: (c) => c.idBlockSize > maxBurst(c.idSlotTtlMs, c.idSlots),
  },
];
