import { ConfigError, parseEnv } from './env.js';

describe(parseEnv.name, () => {
  it('applies the documented defaults', () => {
    const cfg = parseEnv({});
    expect(cfg).toEqual({
      appName: 'CBSA Backend',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown,
      host: '0.0.0.0',
      port: 8000,
      logLevel: 'info',
      logFormat: 'json',
      websocketEndpoint: '/ws/behaviour',
      monitorEndpoint: '/ws/monitor',
      maxMessageBytes: 1048576,
      monitorFlushMs: 50,
      monitorBatchMax: 256,
      monitorMaxBufferBytes: 4194304,
      monitorSlowTimeoutMs: 10000,
      flowMapFile: undefined,
      ingestTokens: [],
      monitorToken: undefined,
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
      idBlockSize: 1000,
      sink: 'none',
      streamMaxlen: 0,
      streamStateMax: 1000000,
      streamStateTtlS: 604800,
      sinkQueueMax: 20000,
      sinkQueueMaxBytes: 67108864,
      sinkReadyMaxAgeMs: 5000,
      redisCommandTimeoutMs: 2000,
      natsServers: ['nats://127.0.0.1:4222'],
      natsToken: undefined,
      natsStream: 'CBSA',
      natsSubject: 'cbsa.events',
      natsReplicas: 1,
      natsDuplicateWindowS: 120,
      natsMaxAgeS: 604800,
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

  it('refuses the redis-stream sink without Redis', () => {
    expect(() => parseEnv({ SINK: 'redis-stream' })).toThrow(/Invalid SINK="redis-stream"/);
  });

  it('reads the NATS sink settings', () => {
    expect(
      parseEnv({
        SINK: 'nats',
        NATS_URL: 'nats://a:4222, nats://u:p@b:4222',
        NATS_TOKEN: 't',
        NATS_STREAM: 'EV_1',
        NATS_SUBJECT: 'ev.in',
        NATS_REPLICAS: '3',
        NATS_DUPLICATE_WINDOW_S: '300',
        NATS_MAX_AGE_S: '86400',
        SINK_QUEUE_MAX: '500',
        SINK_QUEUE_MAX_BYTES: '2048',
        STREAM_STATE_TTL_S: '60',
      }),
    ).toMatchObject({
      sink: 'nats',
      natsServers: ['nats://a:4222', 'nats://u:p@b:4222'],
      natsToken: 't',
      natsStream: 'EV_1',
      natsSubject: 'ev.in',
      natsReplicas: 3,
      natsDuplicateWindowS: 300,
      natsMaxAgeS: 86400,
      sinkQueueMax: 500,
      sinkQueueMaxBytes: 2048,
      streamStateTtlS: 60,
    });
  });

  it.each([
    [{ NATS_URL: 'http://x:4222' }, /^Invalid NATS_URL="http:\/\/x:4222": expected comma-separated URLs/],
    [{ NATS_URL: 'nats://u:secret@x:4222,bad' }, /^Invalid NATS_URL="bad"/],
    [{ NATS_STREAM: 'a.b' }, /^Invalid NATS_STREAM="a.b": expected a stream name/],
    [
      { NATS_SUBJECT: 'cbsa.>' },
      /^Invalid NATS_SUBJECT="cbsa.>": expected a subject of dot-separated tokens without wildcards/,
    ],
    [{ NATS_REPLICAS: '7' }, /^Invalid NATS_REPLICAS="7": expected an integer from 1 to 5$/],
    [
      { SINK: 'nats', NATS_MAX_AGE_S: '60' },
      /^Invalid NATS_DUPLICATE_WINDOW_S="120": expected at most NATS_MAX_AGE_S \(60\)/,
    ],
  ])('rejects %j', (env, message) => {
    expect(() => parseEnv(env)).toThrow(message);
  });

  it('never shows a password from NATS_URL in an error', () => {
    expect(() => parseEnv({ NATS_URL: 'http://u:secret@x:4222' })).toThrow(
      'Invalid NATS_URL="http://[redacted]@x:4222"',
    );
  });

  it('reads the access and limit settings', () => {
    expect(
      parseEnv({
        INGEST_TOKENS: ' a1 , b2,,',
        MONITOR_TOKEN: 'm',
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
  ])('rejects %s=%s naming the variable and what it accepts', (name, value, accepts) => {
    expect(() => parseEnv({ [name]: value })).toThrow(ConfigError);
    expect(() => parseEnv({ [name]: value })).toThrow(new RegExp(`^Invalid ${name}=.*expected ${accepts}`));
  });

  it('rejects a monitor endpoint equal to the ingest endpoint', () => {
    expect(() => parseEnv({ MONITOR_ENDPOINT: '/ws/behaviour' })).toThrow(/MONITOR_ENDPOINT/);
  });
});
