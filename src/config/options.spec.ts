import { ConfigError, parseEnv } from './env.js';
import { resolveOptions } from './options.js';

describe(resolveOptions.name, () => {
  it('takes the environment settings in camelCase, as parsed values or as text', () => {
    const { config, logger } = resolveOptions({
      basePath: '/cbsa',
      port: 0,
      monitorFlushMs: '20',
      ingestTokens: ['a-token-of-16-chars-or-more'],
      allowedHosts: 'Example.com, localhost:8000',
      allowWeakTokens: true,
      logLevel: 'warning',
    });
    expect(logger).toBe('nest');
    expect(config).toEqual({
      ...parseEnv({}),
      basePath: '/cbsa',
      port: 0,
      monitorFlushMs: 20,
      ingestTokens: ['a-token-of-16-chars-or-more'],
      allowedHosts: ['example.com', 'localhost:8000'],
      allowWeakTokens: true,
      logLevel: 'warn',
    });
  });

  it('gives no option the same defaults as an empty environment', () => {
    expect(resolveOptions().config).toEqual(parseEnv({}));
  });

  it('refuses invalid values with the messages the environment gets, every one at once', () => {
    expect(() => resolveOptions({ port: 70000, monitorToken: 'short', workers: 2 })).toThrow(
      new ConfigError([
        'Invalid PORT="70000": expected an integer from 0 to 65535',
        'Invalid WORKERS="2": expected 1 unless REDIS_URL is set: without the Redis bus each monitor would see only its own worker\'s events',
        'Invalid MONITOR_TOKEN=[redacted]: expected a token of at least 16 characters (ALLOW_WEAK_TOKENS=1 allows a shorter one for development)',
      ]),
    );
  });

  it('refuses an option that is not a setting, and a logger it does not know', () => {
    expect(() => resolveOptions({ prot: 8000, logger: 'winston' } as never)).toThrow(
      new ConfigError([
        'Unknown option prot: not a CBSA setting',
        'Invalid logger="winston": expected nest or pino',
      ]),
    );
  });
});
