import { generateKeyPairSync } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { ConfigError, parseEnv } from './env.js';

describe(parseEnv.name, () => {
  it('applies the documented defaults', () => {
    const cfg = parseEnv({});
    expect(cfg).toEqual({
      appName: 'CBSA Backend',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown,
      basePath: '',
      host: '0.0.0.0',
      port: 8000,
      listenBacklog: 4096,
      logLevel: 'info',
      logFormat: 'json',
      websocketEndpoint: '/ws/behaviour',
      monitorEndpoint: '/ws/monitor',
      maxMessageBytes: 1048576,
      monitorFlushMs: 50,
      maxMonitors: 100,
      monitorBatchMax: 256,
      monitorMaxBufferBytes: 4194304,
      monitorReplay: 200,
      monitorSlowTimeoutMs: 10000,
      flowMapFile: undefined,
      ingestTokens: [],
      monitorToken: undefined,
      authJwksUrl: undefined,
      authJwtPublicKey: undefined,
      authJwtSecret: undefined,
      authJwtIssuer: undefined,
      authJwtAudience: undefined,
      authClockToleranceS: 30,
      authAllowQueryToken: false,
      authJwksTimeoutMs: 5000,
      authJwksRefetchS: 30,
      authJwksMaxAgeS: 600,
      authVerifyThreads: 1,
      maxConnectionsPerSubject: 8,
      maxSeqGap: 100000,
      allowedOrigins: [],
      maxConnections: 10000,
      maxConnectionsPerIp: 0,
      rateLimitPerConnection: 0,
      rateLimitBurst: 0,
      rateLimitCloseAfterMs: 10000,
      clientMaxBufferBytes: 1048576,
      heartbeatIntervalMs: 30000,
      shutdownTimeoutMs: 10000,
      httpMaxHeaders: 100,
      httpMaxHeaderBytes: 16384,
      workers: 1,
      redisUrl: undefined,
      redisPrefix: 'cbsa:',
      idBlockSize: 1_000_000,
      idSlotTtlMs: 2000,
      idSlots: 8,
      sink: 'none',
      streamMaxlen: 0,
      allowWeakTokens: false,
      streamStateMax: 1000000,
      streamStateMaxBytes: 256 * 1024 * 1024,
      streamStateTtlS: 604800,
      sinkQueueMax: 20000,
      sinkQueueMaxBytes: 67108864,
      sinkPipeline: 4,
      sinkReadyMaxAgeMs: 5000,
      redisCommandTimeoutMs: 2000,
      natsServers: ['nats://127.0.0.1:4222'],
      natsToken: undefined,
      natsStream: 'CBSA',
      natsSubject: 'cbsa.events',
      natsReplicas: 1,
      natsDuplicateWindowS: 120,
      natsMaxAgeS: 604800,
      eventPolicyFile: undefined,
      eventSchemasDir: undefined,
      policyHashKey: undefined,
      monitorData: 'full',
      adminToken: undefined,
      retentionMaxAgeS: 0,
      natsAllowLimits: false,
      clientStallTimeoutMs: 30000,
      allowedHosts: [],
      monitorFrameMaxBytes: 1048576,
      monitorEventMaxBytes: 65536,
      fdHeadroom: 256,
    });
  });

  it('reads the hardening settings, hosts lowercased', () => {
    expect(
      parseEnv({
        CLIENT_STALL_TIMEOUT_MS: '5000',
        ALLOWED_HOSTS: 'Monitor.Example.com, localhost:8000,[::1]:8000',
        MONITOR_FRAME_MAX_BYTES: '65536',
        MONITOR_EVENT_MAX_BYTES: '4096',
      }),
    ).toMatchObject({
      clientStallTimeoutMs: 5000,
      allowedHosts: ['monitor.example.com', 'localhost:8000', '[::1]:8000'],
      monitorFrameMaxBytes: 65536,
      monitorEventMaxBytes: 4096,
    });
  });

  it('reads the scale-out settings', () => {
    expect(
      parseEnv({
        WORKERS: '4',
        REDIS_URL: 'redis://127.0.0.1:6379/0',
        REDIS_PREFIX: 'x:',
        SINK: 'redis-stream',
      }),
    ).toMatchObject({
      workers: 4,
      redisUrl: 'redis://127.0.0.1:6379/0',
      redisPrefix: 'x:',
      sink: 'redis-stream',
    });
  });

  it('refuses several workers without Redis, saying why', () => {
    expect(() => parseEnv({ WORKERS: '2' })).toThrow(
      /^Invalid WORKERS="2": expected 1 unless REDIS_URL is set: without the Redis bus each monitor would see only its own worker's events$/,
    );
  });

  it('takes up to 1024 id slots, and refuses a burst allowance that would put ids 6·10^11 ahead of the clock, naming ID_SLOTS', () => {
    expect(parseEnv({ ID_SLOTS: '1024' })).toMatchObject({ idSlots: 1024, idBlockSize: 1_000_000 });
    expect(parseEnv({ ID_SLOTS: '1024', ID_BLOCK_SIZE: '585935448' }).idBlockSize).toBe(585_935_448);
    expect(() => parseEnv({ ID_SLOTS: '1024', ID_BLOCK_SIZE: '585935449' })).toThrow(
      new ConfigError([
        'Invalid ID_BLOCK_SIZE="585935449": expected at most 585935448 with ID_SLOTS=1024 and ID_SLOT_TTL_MS=2000: ids may run ahead of the clock by ID_BLOCK_SIZE × ID_SLOTS, which must stay under 6·10^11',
      ]),
    );
    // The largest ID_BLOCK_SIZE fits 19 slots with the longest lease, not 20.
    expect(parseEnv({ ID_SLOTS: '19', ID_SLOT_TTL_MS: '600000', ID_BLOCK_SIZE: '30000000000' }).idSlots).toBe(
      19,
    );
    expect(() =>
      parseEnv({ ID_SLOTS: '20', ID_SLOT_TTL_MS: '600000', ID_BLOCK_SIZE: '30000000000' }),
    ).toThrow(
      /^Invalid ID_BLOCK_SIZE="30000000000": expected at most 29969994999 with ID_SLOTS=20 and ID_SLOT_TTL_MS=600000:/,
    );
    expect(() => parseEnv({ ID_SLOTS: '1025' })).toThrow(
      new ConfigError(['Invalid ID_SLOTS="1025": expected an integer from 1 to 1024']),
    );
    expect(() => parseEnv({ ID_SLOTS: '0' })).toThrow(/^Invalid ID_SLOTS="0"/);
  });

  it('refuses the redis-stream sink without Redis', () => {
    expect(() => parseEnv({ SINK: 'redis-stream' })).toThrow(/Invalid SINK="redis-stream"/);
  });

  it('takes SINK=nats on the default local NATS server, and refuses a NATS_URL that names none', () => {
    expect(parseEnv({ SINK: 'nats' }).natsServers).toEqual(['nats://127.0.0.1:4222']);
    expect(() => parseEnv({ SINK: 'nats', NATS_URL: ' , ' })).toThrow(
      new ConfigError([
        'Invalid SINK="nats": expected not nats while NATS_URL names no server: the nats sink publishes to NATS',
      ]),
    );
  });

  it('reads the access and limit settings', () => {
    expect(
      parseEnv({
        INGEST_TOKENS: ' a1 , b2,,',
        MONITOR_TOKEN: 'm',
        ALLOW_WEAK_TOKENS: '1',
        ALLOWED_ORIGINS: 'https://ops.example.com,http://localhost:3000',
        MAX_CONNECTIONS: '50',
        MAX_CONNECTIONS_PER_IP: '5',
        RATE_LIMIT_PER_CONNECTION: '100',
        HEARTBEAT_INTERVAL_MS: '0',
        SHUTDOWN_TIMEOUT_MS: '2000',
      }),
    ).toMatchObject({
      ingestTokens: ['a1', 'b2'],
      monitorToken: 'm',
      allowedOrigins: ['https://ops.example.com', 'http://localhost:3000'],
      maxConnections: 50,
      maxConnectionsPerIp: 5,
      rateLimitPerConnection: 100,
      rateLimitBurst: 100,
      heartbeatIntervalMs: 0,
      shutdownTimeoutMs: 2000,
    });
    expect(parseEnv({ RATE_LIMIT_PER_CONNECTION: '10', RATE_LIMIT_BURST: '40' }).rateLimitBurst).toBe(40);
  });

  it.each([
    ['DEBUG', 'debug'],
    ['info', 'info'],
    ['Warning', 'warn'],
    ['ERROR', 'error'],
    ['critical', 'fatal'],
  ])('maps LOG_LEVEL=%s onto pino level %s', (level, pino) => {
    expect(parseEnv({ LOG_LEVEL: level }).logLevel).toBe(pino);
  });

  it('reads every variable', () => {
    const cfg = parseEnv({
      APP_NAME: 'X',
      VERSION: '9.9.9',
      HOST: '127.0.0.1',
      PORT: '9000',
      LOG_FORMAT: 'PRETTY',
      WEBSOCKET_ENDPOINT: '/in',
      MONITOR_ENDPOINT: '/mon',
      MAX_MESSAGE_BYTES: '2048',
      MONITOR_FLUSH_MS: '10',
      MONITOR_BATCH_MAX: '5',
      MONITOR_MAX_BUFFER_BYTES: '65536',
      MONITOR_SLOW_TIMEOUT_MS: '500',
      FLOW_MAP_FILE: '/tmp/map.json',
    });
    expect(cfg).toMatchObject({
      appName: 'X',
      version: '9.9.9',
      host: '127.0.0.1',
      port: 9000,
      logFormat: 'pretty',
      websocketEndpoint: '/in',
      monitorEndpoint: '/mon',
      maxMessageBytes: 2048,
      monitorFlushMs: 10,
      monitorBatchMax: 5,
      monitorMaxBufferBytes: 65536,
      monitorSlowTimeoutMs: 500,
      flowMapFile: '/tmp/map.json',
    });
  });

  it.each([
    ['PORT', 'eighty', 'an integer from 0 to 65535'],
    ['PORT', '70000', 'an integer from 0 to 65535'],
    ['PORT', '-1', 'an integer from 0 to 65535'],
    ['MAX_MESSAGE_BYTES', '1.5', 'an integer'],
    ['MONITOR_FLUSH_MS', '0', 'an integer from 1'],
    ['LOG_LEVEL', 'verbose', 'one of DEBUG, INFO, WARNING, ERROR, CRITICAL'],
    ['LOG_FORMAT', 'xml', 'one of json, pretty'],
    ['WEBSOCKET_ENDPOINT', 'ws/behaviour', 'a URL path starting with "/"'],
    ['ALLOWED_ORIGINS', 'evil.com', 'comma-separated origins'],
    ['MAX_CONNECTIONS', '0', 'an integer from 1'],
    ['HEARTBEAT_INTERVAL_MS', 'soon', 'an integer from 0'],
    ['REDIS_URL', 'localhost:6379', 'a URL such as redis://'],
    ['SINK', 'kafka', 'one of none, redis-stream'],
    ['ALLOWED_HOSTS', 'https://monitor.example.com', 'comma-separated host names'],
    ['ALLOWED_HOSTS', 'a b', 'comma-separated host names'],
    ['CLIENT_STALL_TIMEOUT_MS', '10', 'an integer from 100'],
    ['MONITOR_FRAME_MAX_BYTES', '100', 'an integer from 16384'],
    ['MONITOR_EVENT_MAX_BYTES', '100', 'an integer from 1024'],
  ])('rejects %s=%s naming the variable and what it accepts', (name, value, accepts) => {
    expect(() => parseEnv({ [name]: value })).toThrow(ConfigError);
    expect(() => parseEnv({ [name]: value })).toThrow(new RegExp(`^Invalid ${name}=.*expected ${accepts}`));
  });

  it('takes a base path without a trailing slash, and refuses others', () => {
    expect(parseEnv({ BASE_PATH: '/cbsa' }).basePath).toBe('/cbsa');
    expect(parseEnv({ BASE_PATH: '/platform/cbsa' }).basePath).toBe('/platform/cbsa');
    for (const bad of ['cbsa', '/cbsa/', '/a b', '/a?b']) {
      expect(() => parseEnv({ BASE_PATH: bad })).toThrow(
        new ConfigError([
          `Invalid BASE_PATH=${JSON.stringify(bad)}: expected a URL path such as /cbsa, without a trailing slash`,
        ]),
      );
    }
  });

  it('rejects a monitor endpoint equal to the ingest endpoint', () => {
    expect(() => parseEnv({ MONITOR_ENDPOINT: '/ws/behaviour' })).toThrow(/MONITOR_ENDPOINT/);
  });
});

describe('parseEnv: every problem at once', () => {
  it('names every invalid variable, one line each, in declaration order, then the rules', () => {
    let error: unknown;
    try {
      parseEnv({
        PORT: 'abc',
        LOG_LEVEL: 'loud',
        MONITOR_FLUSH_MS: '0',
        WORKERS: '2',
        MONITOR_TOKEN: 'short',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'Invalid PORT="abc": expected an integer from 0 to 65535',
      'Invalid LOG_LEVEL="loud": expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL',
      'Invalid MONITOR_FLUSH_MS="0": expected an integer from 1 to 60000',
      'Invalid WORKERS="2": expected 1 unless REDIS_URL is set: without the Redis bus each monitor would see only its own worker\'s events',
      'Invalid MONITOR_TOKEN=[redacted]: expected a token of at least 16 characters (ALLOW_WEAK_TOKENS=1 allows a shorter one for development)',
    ]);
    expect((error as ConfigError).message).toBe((error as ConfigError).problems.join('\n'));
  });

  it('skips a rule whose inputs are invalid themselves', () => {
    expect(() => parseEnv({ WORKERS: '2', REDIS_URL: 'localhost:6379' })).toThrow(
      new ConfigError([
        'Invalid REDIS_URL="localhost:6379": expected a URL such as redis://127.0.0.1:6379/0',
      ]),
    );
  });

  it('treats empty as unset', () => {
    expect(parseEnv({ PORT: '', REDIS_URL: '', MONITOR_TOKEN: '   ', SINK: '' })).toMatchObject({
      port: 8000,
      redisUrl: undefined,
      monitorToken: undefined,
      sink: 'none',
    });
  });
});

describe('parseEnv: secrets', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      parseEnv(env);
    } catch (err) {
      return [...(err as ConfigError).problems];
    }
    throw new Error('expected a ConfigError');
  };

  it('shows an invalid REDIS_URL without its password, even one holding "@", "/" and "#"', () => {
    expect(problems({ REDIS_URL: 'redis:/user:pa@s/s#w@cache.internal:6379' })).toEqual([
      'Invalid REDIS_URL="[redacted]@cache.internal:6379": expected a URL such as redis://127.0.0.1:6379/0',
    ]);
    expect(problems({ REDIS_URL: 'redis://:hunter2@ cache:6379' })).toEqual([
      'Invalid REDIS_URL="redis://[redacted]@ cache:6379": expected a URL such as redis://127.0.0.1:6379/0',
    ]);
  });

  it('shows an invalid NATS_URL without credentials in any of its servers', () => {
    expect(problems({ NATS_URL: 'nats://a:pw1@n1:4222,http://b:p,w2@n2:4222' })).toEqual([
      'Invalid NATS_URL="nats://[redacted]@n1:4222,http://[redacted]@n2:4222": expected comma-separated URLs such as nats://127.0.0.1:4222',
    ]);
  });

  it('never shows a token', () => {
    expect(problems({ INGEST_TOKENS: 'long-enough-token-1,short', NATS_TOKEN: 'x', SINK: 'kafka' })).toEqual([
      'Invalid SINK="kafka": expected one of none, redis-stream, nats',
      'Invalid INGEST_TOKENS=[redacted]: expected tokens of at least 16 characters each (ALLOW_WEAK_TOKENS=1 allows shorter ones for development)',
    ]);
  });
});

describe('parseEnv: tokens', () => {
  it('trims tokens and accepts 16 characters or more', () => {
    expect(
      parseEnv({
        INGEST_TOKENS: ' 0123456789abcdef ,\tfedcba9876543210\t',
        MONITOR_TOKEN: '  monitor-token-16  ',
      }),
    ).toMatchObject({
      ingestTokens: ['0123456789abcdef', 'fedcba9876543210'],
      monitorToken: 'monitor-token-16',
    });
  });

  it.each([
    ['INGEST_TOKENS', '0123456789abcdef,0123456789abcde'],
    ['MONITOR_TOKEN', '  0123456789abcde  '],
  ])('refuses %s shorter than 16 characters after trimming', (name, value) => {
    expect(() => parseEnv({ [name]: value })).toThrow(
      new RegExp(`^Invalid ${name}=\\[redacted\\]: expected .*at least 16 characters`),
    );
  });

  it.each(['1', 'true', 'YES', 'on'])('allows short tokens with ALLOW_WEAK_TOKENS=%s', (flag) => {
    expect(parseEnv({ INGEST_TOKENS: 'a', MONITOR_TOKEN: 'b', ALLOW_WEAK_TOKENS: flag })).toMatchObject({
      ingestTokens: ['a'],
      monitorToken: 'b',
      allowWeakTokens: true,
    });
  });

  it('refuses ALLOW_WEAK_TOKENS=maybe', () => {
    expect(() => parseEnv({ ALLOW_WEAK_TOKENS: 'maybe' })).toThrow(
      new ConfigError([
        'Invalid ALLOW_WEAK_TOKENS="maybe": expected 1 or 0 (also true/false, yes/no, on/off)',
      ]),
    );
  });
});

describe('parseEnv: WebSocket paths', () => {
  it.each([
    '/',
    '//',
    '/health',
    '/health/',
    '/HEALTH/live',
    '/health/ready',
    '/health/anything',
    '/metrics',
    '/event-flow-map',
    '/openapi.json',
    '/config.json',
    '/vendor',
    '/vendor/uplot',
    '/index.html',
    '/js',
    '/js/app',
    '/monitor.css',
    '/favicon.svg',
  ])('refuses WEBSOCKET_ENDPOINT and MONITOR_ENDPOINT=%s, which would hide an HTTP route', (path) => {
    for (const name of ['WEBSOCKET_ENDPOINT', 'MONITOR_ENDPOINT']) {
      expect(() => parseEnv({ [name]: path })).toThrow(
        new RegExp(
          `^Invalid ${name}="${path}": expected a path that hides no HTTP route \\(not /, /health, .*/metrics, `,
        ),
      );
    }
  });

  it.each(['/ws', '/ingest', '/healthz', '/metrics-feed', '/v1/events'])('accepts %s', (path) => {
    expect(parseEnv({ WEBSOCKET_ENDPOINT: path }).websocketEndpoint).toBe(path);
  });

  it.each([
    ['/ws/behaviour', '/ws/behaviour/'],
    ['/ws/in', '/WS/IN'],
  ])('refuses the same endpoint twice: %s and %s', (ingest, monitor) => {
    expect(() => parseEnv({ WEBSOCKET_ENDPOINT: ingest, MONITOR_ENDPOINT: monitor })).toThrow(
      new ConfigError([
        `Invalid MONITOR_ENDPOINT="${monitor}": expected a path different from WEBSOCKET_ENDPOINT`,
      ]),
    );
  });
});

describe('parseEnv: sinks and frames', () => {
  it('caps MAX_MESSAGE_BYTES at 16 MiB', () => {
    expect(parseEnv({ MAX_MESSAGE_BYTES: '16777216' }).maxMessageBytes).toBe(16 * 1024 * 1024);
    expect(() => parseEnv({ MAX_MESSAGE_BYTES: '16777217' })).toThrow(
      new ConfigError(['Invalid MAX_MESSAGE_BYTES="16777217": expected an integer from 1 to 16777216']),
    );
  });

  it('reads the NATS and stream-state settings', () => {
    expect(
      parseEnv({
        NATS_URL: 'nats://u:p@n1:4222, tls://n2:4222',
        NATS_TOKEN: ' t ',
        NATS_STREAM: 'EVENTS_1',
        NATS_SUBJECT: 'a.b-c.d_e',
        NATS_REPLICAS: '3',
        NATS_DUPLICATE_WINDOW_S: '600',
        NATS_MAX_AGE_S: '0',
        STREAM_STATE_MAX: '10',
        STREAM_STATE_TTL_S: '60',
      }),
    ).toMatchObject({
      natsServers: ['nats://u:p@n1:4222', 'tls://n2:4222'],
      natsToken: 't',
      natsStream: 'EVENTS_1',
      natsSubject: 'a.b-c.d_e',
      natsReplicas: 3,
      natsDuplicateWindowS: 600,
      natsMaxAgeS: 0,
      streamStateMax: 10,
      streamStateTtlS: 60,
    });
  });

  it.each([
    ['NATS_STREAM', 'a.b', 'a JetStream stream name'],
    ['NATS_SUBJECT', 'cbsa.*', 'a NATS subject without wildcards'],
    ['NATS_SUBJECT', 'cbsa..events', 'a NATS subject without wildcards'],
    ['NATS_REPLICAS', '6', 'an integer from 1 to 5'],
    ['STREAM_STATE_MAX', '0', 'an integer from 1 to 100000000'],
    ['STREAM_STATE_TTL_S', '1e6', 'an integer from 1 to 315360000'],
  ])('refuses %s=%s', (name, value, expected) => {
    expect(() => parseEnv({ [name]: value })).toThrow(
      new RegExp(`^Invalid ${name}="${value.replace(/[.*]/g, '\\$&')}": expected ${expected}`),
    );
  });

  it('refuses stream state the heap cannot hold without Redis or NATS, naming the setting', () => {
    const heap = getHeapStatistics().heap_size_limit;
    const tooMany = String(Math.ceil(heap / 2 / 150) + 1);
    expect(() => parseEnv({ STREAM_STATE_MAX: tooMany })).toThrow(
      new RegExp(
        `^Invalid STREAM_STATE_MAX="${tooMany}": expected at most \\d+ without Redis or NATS: half this process's heap`,
      ),
    );
    expect(() => parseEnv({ STREAM_STATE_MAX_BYTES: String(heap) })).toThrow(
      new RegExp(`^Invalid STREAM_STATE_MAX_BYTES="${heap}": expected at most \\d+ without Redis or NATS`),
    );
    // Redis or NATS keep the state: the in-memory bound does not apply.
    expect(parseEnv({ STREAM_STATE_MAX: tooMany, REDIS_URL: 'redis://h:6379' }).streamStateMax).toBe(
      Number(tooMany),
    );
    expect(parseEnv({ STREAM_STATE_MAX: tooMany, SINK: 'nats' }).streamStateMax).toBe(Number(tooMany));
  });

  it('refuses a duplicate window longer than the retention', () => {
    expect(() => parseEnv({ NATS_DUPLICATE_WINDOW_S: '3600', NATS_MAX_AGE_S: '60' })).toThrow(
      new ConfigError([
        'Invalid NATS_DUPLICATE_WINDOW_S="3600": expected at most NATS_MAX_AGE_S: JetStream refuses a duplicate window longer than the retention',
      ]),
    );
  });

  it('refuses the privacy settings that would not protect anything, naming each', () => {
    expect(() =>
      parseEnv({
        ADMIN_TOKEN: 'a'.repeat(31),
        POLICY_HASH_KEY: 'short',
        MONITOR_DATA: 'policy',
        SINK: 'nats',
        RETENTION_MAX_AGE_S: '86400',
      }),
    ).toThrow(
      new ConfigError([
        'Invalid ADMIN_TOKEN=[redacted]: expected a token of at least 32 characters (it can erase data)',
        'Invalid POLICY_HASH_KEY=[redacted]: expected a key of at least 16 characters',
        'Invalid MONITOR_DATA="policy": expected full or none unless EVENT_POLICY_FILE is set: "policy" shows data only as a policy transformed it',
        'Invalid NATS_MAX_AGE_S="604800": expected equal to RETENTION_MAX_AGE_S when both are set with SINK=nats: the stream max_age is the retention',
      ]),
    );
  });

  it('takes SINK=nats (any case) with its NATS settings', () => {
    const cfg = parseEnv({ SINK: 'NATS', NATS_URL: 'nats://a:4222,nats://b:4222', NATS_STREAM: 'EV' });
    expect([cfg.sink, cfg.natsServers, cfg.natsStream]).toEqual([
      'nats',
      ['nats://a:4222', 'nats://b:4222'],
      'EV',
    ]);
  });
});

describe('parseEnv: JWT authentication', () => {
  const SECRET = 'a-secret-of-thirty-two-bytes-min!';
  const JWT = { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: 'https://id.example', AUTH_JWT_AUDIENCE: 'cbsa' };
  const problemsOf = (env: Record<string, string>): readonly string[] => {
    try {
      parseEnv(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('reads JWT mode with an HS256 secret, its issuer and audience', () => {
    expect(parseEnv({ ...JWT, AUTH_CLOCK_TOLERANCE_S: '5' })).toMatchObject({
      authJwtSecret: SECRET,
      authJwtIssuer: 'https://id.example',
      authJwtAudience: 'cbsa',
      authClockToleranceS: 5,
    });
  });

  it('refuses JWT settings together with INGEST_TOKENS, naming both, and never shows either', () => {
    const found = problemsOf({ ...JWT, INGEST_TOKENS: '0123456789abcdef' });
    expect(found).toEqual([
      'Invalid INGEST_TOKENS=[redacted]: expected empty when JWT auth is on (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET): INGEST_TOKENS and JWT auth cannot be set together',
    ]);
    expect(found.join('\n')).not.toContain(SECRET);
  });

  it('requires AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE in JWT mode', () => {
    expect(problemsOf({ AUTH_JWT_SECRET: SECRET })).toEqual([
      'Missing AUTH_JWT_ISSUER: expected set when JWT auth is on (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET)',
      'Missing AUTH_JWT_AUDIENCE: expected set when JWT auth is on (AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY or AUTH_JWT_SECRET)',
    ]);
  });

  it('refuses a secret under 32 bytes, a PEM that is no public key, and two key sources at once', () => {
    expect(problemsOf({ ...JWT, AUTH_JWT_SECRET: 'short' })).toEqual([
      'Invalid AUTH_JWT_SECRET=[redacted]: expected a secret of at least 32 bytes',
    ]);
    expect(problemsOf({ ...JWT, AUTH_JWT_SECRET: '', AUTH_JWT_PUBLIC_KEY: 'not a key' })).toEqual([
      'Invalid AUTH_JWT_PUBLIC_KEY="not a key": expected a PEM public key (EC P-256/384/521, Ed25519 or RSA)',
    ]);
    expect(problemsOf({ ...JWT, AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks.json' })).toEqual([
      'Invalid AUTH_JWKS_URL="http://127.0.0.1:1/jwks.json": expected only one of AUTH_JWKS_URL, AUTH_JWT_PUBLIC_KEY and AUTH_JWT_SECRET',
    ]);
  });

  it('takes a PEM public key with "\\n" for its line breaks (one-line environment files)', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const cfg = parseEnv({
      ...JWT,
      AUTH_JWT_SECRET: '',
      AUTH_JWT_PUBLIC_KEY: pem.trim().replace(/\n/g, '\\n'),
    });
    expect(cfg.authJwtPublicKey).toBe(pem.trim());
  });
});
