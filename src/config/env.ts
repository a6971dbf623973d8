// Parses and validates the environment in one place; every setting the service reads is here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_LEVELS = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'fatal',
} as const;

export type PinoLevel = (typeof LOG_LEVELS)[keyof typeof LOG_LEVELS];

export interface AppConfig {
  appName: string;
  version: string;
  host: string;
  port: number;
  logLevel: PinoLevel;
  logFormat: 'json' | 'pretty';
  websocketEndpoint: string;
  monitorEndpoint: string;
  maxMessageBytes: number;
  monitorFlushMs: number;
  monitorBatchMax: number;
  monitorMaxBufferBytes: number;
  monitorSlowTimeoutMs: number;
  flowMapFile: string | undefined;
  /** Empty: ingest is open. */
  ingestTokens: string[];
  monitorToken: string | undefined;
  /** Origins allowed on the monitor besides the server's own and requests without an Origin header. */
  allowedOrigins: string[];
  maxConnections: number;
  /** 0: off. */
  maxConnectionsPerIp: number;
  /** Frames per second per connection; 0: off. */
  rateLimitPerConnection: number;
  rateLimitBurst: number;
  rateLimitCloseAfterMs: number;
  /** Acks queued for a client that does not read them before its socket stops being read. */
  clientMaxBufferBytes: number;
  /** 0: off. */
  heartbeatIntervalMs: number;
  shutdownTimeoutMs: number;
  httpMaxHeaders: number;
  httpMaxHeaderBytes: number;
  /** Processes serving the port (node:cluster); more than 1 needs Redis. */
  workers: number;
  redisUrl: string | undefined;
  redisPrefix: string;
  idBlockSize: number;
  sink: 'none' | 'redis-stream' | 'nats';
  // --- Evidence integrity (issue 9): resumable streams and the sink ---
  /** 0: no trimming (the default); otherwise trimmed towards this length, never past a consumer group. */
  streamMaxlen: number;
  /** Streams whose last seq is kept in memory (without Redis), least recently used evicted. */
  streamStateMax: number;
  /** A stream's last seq is forgotten after this many seconds without events. */
  streamStateTtlS: number;
  /** Pending sink appends past which ingest sockets are paused (count, and bytes of frame text). */
  sinkQueueMax: number;
  sinkQueueMaxBytes: number;
  /** Readiness is 503 while the oldest pending append is older than this. */
  sinkReadyMaxAgeMs: number;
  /** Every Redis command fails after this long without a reply. */
  redisCommandTimeoutMs: number;
  // --- end evidence integrity ---
  // --- NATS JetStream sink (issue #10); moves into the config schema when that lands ---
  /** Servers to connect to (several for a cluster); credentials in a URL are never logged. */
  natsServers: string[];
  natsToken: string | undefined;
  natsStream: string;
  natsSubject: string;
  natsReplicas: number;
  natsDuplicateWindowS: number;
  natsMaxAgeS: number;
  // --- end NATS ---
}

export class ConfigError extends Error {
  constructor(variable: string, accepts: string, value: string) {
    super(`Invalid ${variable}=${JSON.stringify(value)}: expected ${accepts}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export const PACKAGE_ROOT = join(import.meta.dirname, '..', '..');

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function str(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.trim());
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `an integer from ${min} to ${max}`, raw);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  const match = choices.find((c) => c.toLowerCase() === value);
  if (!match) throw new ConfigError(name, `one of ${choices.join(', ')}`, raw);
  return match;
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function wsPath(env: Env, name: string, fallback: string): string {
  const value = str(env, name, fallback);
  if (!/^\/[A-Za-z0-9\-._~/]*$/.test(value)) {
    throw new ConfigError(name, 'a URL path starting with "/"', value);
  }
  return value;
}

// --- NATS JetStream sink (issue #10) ---
function natsServers(env: Env): string[] {
  const servers = list({ NATS_URL: str(env, 'NATS_URL', 'nats://127.0.0.1:4222') }, 'NATS_URL');
  for (const server of servers) {
    if (!/^(nats|tls|wss?):\/\/\S+$/.test(server)) {
      throw new ConfigError(
        'NATS_URL',
        'comma-separated URLs such as nats://127.0.0.1:4222',
        server.replace(/\/\/[^@/]*@/, '//[redacted]@'),
      );
    }
  }
  return servers;
}

function natsName(env: Env, name: string, fallback: string, pattern: RegExp, accepts: string): string {
  const value = str(env, name, fallback);
  if (!pattern.test(value)) throw new ConfigError(name, accepts, value);
  return value;
}
// --- end NATS ---

/** Turns raw environment variables into a typed config, or throws a ConfigError naming the variable. */
export function parseEnv(env: Env): AppConfig {
  const level = oneOf(env, 'LOG_LEVEL', Object.keys(LOG_LEVELS) as (keyof typeof LOG_LEVELS)[], 'INFO');
  const config: AppConfig = {
    appName: str(env, 'APP_NAME', 'CBSA Backend'),
    version: str(env, 'VERSION', packageVersion()),
    host: str(env, 'HOST', '0.0.0.0'),
    port: int(env, 'PORT', 8000, 0, 65535),
    logLevel: LOG_LEVELS[level],
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
    websocketEndpoint: wsPath(env, 'WEBSOCKET_ENDPOINT', '/ws/behaviour'),
    monitorEndpoint: wsPath(env, 'MONITOR_ENDPOINT', '/ws/monitor'),
    maxMessageBytes: int(env, 'MAX_MESSAGE_BYTES', 1024 * 1024, 1, 256 * 1024 * 1024),
    monitorFlushMs: int(env, 'MONITOR_FLUSH_MS', 50, 1, 60_000),
    monitorBatchMax: int(env, 'MONITOR_BATCH_MAX', 256, 1, 100_000),
    monitorMaxBufferBytes: int(env, 'MONITOR_MAX_BUFFER_BYTES', 4 * 1024 * 1024, 1024, 1024 ** 3),
    monitorSlowTimeoutMs: int(env, 'MONITOR_SLOW_TIMEOUT_MS', 10_000, 100, 3_600_000),
    flowMapFile: env.FLOW_MAP_FILE || undefined,
    ingestTokens: list(env, 'INGEST_TOKENS'),
    monitorToken: env.MONITOR_TOKEN || undefined,
    allowedOrigins: list(env, 'ALLOWED_ORIGINS'),
    maxConnections: int(env, 'MAX_CONNECTIONS', 10_000, 1, 10_000_000),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', 0, 0, 10_000_000),
    rateLimitPerConnection: int(env, 'RATE_LIMIT_PER_CONNECTION', 0, 0, 10_000_000),
    rateLimitBurst: 0,
    rateLimitCloseAfterMs: int(env, 'RATE_LIMIT_CLOSE_AFTER_MS', 10_000, 0, 3_600_000),
    clientMaxBufferBytes: int(env, 'CLIENT_MAX_BUFFER_BYTES', 1024 * 1024, 1024, 1024 ** 3),
    heartbeatIntervalMs: int(env, 'HEARTBEAT_INTERVAL_MS', 30_000, 0, 3_600_000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 3_600_000),
    httpMaxHeaders: int(env, 'HTTP_MAX_HEADERS', 100, 10, 10_000),
    httpMaxHeaderBytes: int(env, 'HTTP_MAX_HEADER_BYTES', 16 * 1024, 1024, 1024 * 1024),
    workers: int(env, 'WORKERS', 1, 1, 256),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: str(env, 'REDIS_PREFIX', 'cbsa:'),
    idBlockSize: int(env, 'ID_BLOCK_SIZE', 1000, 1, 1_000_000_000),
    sink: oneOf(env, 'SINK', ['none', 'redis-stream', 'nats'] as const, 'none'),
    // --- Evidence integrity (issue 9) ---
    streamMaxlen: int(env, 'STREAM_MAXLEN', 0, 0, Number.MAX_SAFE_INTEGER),
    streamStateMax: int(env, 'STREAM_STATE_MAX', 1_000_000, 1, 100_000_000),
    streamStateTtlS: int(env, 'STREAM_STATE_TTL_S', 7 * 24 * 3600, 1, 10 * 365 * 24 * 3600),
    sinkQueueMax: int(env, 'SINK_QUEUE_MAX', 20_000, 1, 10_000_000),
    sinkQueueMaxBytes: int(env, 'SINK_QUEUE_MAX_BYTES', 64 * 1024 * 1024, 1024, 1024 ** 3),
    sinkReadyMaxAgeMs: int(env, 'SINK_READY_MAX_AGE_MS', 5000, 10, 3_600_000),
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 2000, 10, 600_000),
    // --- end evidence integrity ---
    // --- NATS JetStream sink (issue #10) ---
    natsServers: natsServers(env),
    natsToken: env.NATS_TOKEN || undefined,
    natsStream: natsName(
      env,
      'NATS_STREAM',
      'CBSA',
      /^[A-Za-z0-9_-]{1,200}$/,
      'a stream name of letters, digits, _ and -',
    ),
    natsSubject: natsName(
      env,
      'NATS_SUBJECT',
      'cbsa.events',
      /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
      'a subject of dot-separated tokens without wildcards, e.g. cbsa.events',
    ),
    natsReplicas: int(env, 'NATS_REPLICAS', 1, 1, 5),
    natsDuplicateWindowS: int(env, 'NATS_DUPLICATE_WINDOW_S', 120, 1, 7 * 24 * 3600),
    natsMaxAgeS: int(env, 'NATS_MAX_AGE_S', 7 * 24 * 3600, 0, 100 * 365 * 24 * 3600),
    // --- end NATS ---
  };
  if (
    config.sink === 'nats' &&
    config.natsMaxAgeS !== 0 &&
    config.natsMaxAgeS < config.natsDuplicateWindowS
  ) {
    throw new ConfigError(
      'NATS_DUPLICATE_WINDOW_S',
      `at most NATS_MAX_AGE_S (${config.natsMaxAgeS}): JetStream refuses a duplicate window longer than the retention`,
      String(config.natsDuplicateWindowS),
    );
  }
  if (config.redisUrl !== undefined && !/^rediss?:\/\/\S+$/.test(config.redisUrl)) {
    throw new ConfigError('REDIS_URL', 'a URL such as redis://127.0.0.1:6379/0', config.redisUrl);
  }
  if (config.workers > 1 && config.redisUrl === undefined) {
    throw new ConfigError(
      'WORKERS',
      "1 unless REDIS_URL is set: without the Redis bus each monitor would see only its own worker's events",
      String(config.workers),
    );
  }
  if (config.sink === 'redis-stream' && config.redisUrl === undefined) {
    throw new ConfigError(
      'SINK',
      'none unless REDIS_URL is set: the redis-stream sink writes to Redis',
      config.sink,
    );
  }
  config.rateLimitBurst = int(env, 'RATE_LIMIT_BURST', config.rateLimitPerConnection, 0, 10_000_000);
  if (config.rateLimitPerConnection > 0 && config.rateLimitBurst < 1) {
    throw new ConfigError(
      'RATE_LIMIT_BURST',
      'an integer of at least 1 when RATE_LIMIT_PER_CONNECTION is set',
      String(config.rateLimitBurst),
    );
  }
  for (const origin of config.allowedOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        'ALLOWED_ORIGINS',
        'comma-separated origins such as https://monitor.example.com',
        origin,
      );
    }
  }
  if (config.websocketEndpoint === config.monitorEndpoint) {
    throw new ConfigError(
      'MONITOR_ENDPOINT',
      'a path different from WEBSOCKET_ENDPOINT',
      config.monitorEndpoint,
    );
  }
  return config;
}
