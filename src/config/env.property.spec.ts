// Property tests of the parsers, for every declared setting of each kind.
import fc from 'fast-check';
import { ConfigError, parseEnv } from './env.js';
import { redactUrl } from './redact.js';
import { type AppConfig, LOG_LEVELS, SETTINGS } from './schema.js';
import type { Setting } from './setting.js';

type Entry = [keyof AppConfig, Setting<unknown>];
const ENTRIES = Object.entries(SETTINGS) as Entry[];

// Settings other rules depend on, set so that each value is judged on its own.
const BASE = { REDIS_URL: 'redis://127.0.0.1:6379/0', NATS_MAX_AGE_S: '0', NATS_DUPLICATE_WINDOW_S: '1' };

function bounds(env: string): [number, number] {
  const m = /^an integer from (\d+) to (\d+)$/.exec(
    SETTINGS[ENTRIES.find(([, s]) => s.env === env)![0]].accepts,
  );
  return [Number(m![1]), Number(m![2])];
}

function message(env: Record<string, string>): string | undefined {
  try {
    parseEnv(env);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
}

const INTS = ENTRIES.filter(([, s]) => s.accepts.startsWith('an integer from')).map(
  ([key, s]) => [s.env, key] as const,
);
const CHOICES = {
  LOG_LEVEL: ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'],
  LOG_FORMAT: ['json', 'pretty'],
  SINK: ['none', 'redis-stream', 'nats'],
} as const;

describe('config parsers (properties)', () => {
  it.each(INTS)('%s: every integer within bounds round-trips, blanks around it ignored', (env, key) => {
    const [min, max] = bounds(env);
    fc.assert(
      fc.property(fc.integer({ min, max }), fc.constantFrom('', ' ', '\t'), (n, pad) => {
        expect(parseEnv({ ...BASE, [env]: `${pad}${n}${pad}` })[key]).toBe(n);
      }),
    );
  });

  it.each(INTS)('%s: anything else is refused, naming the variable and its bounds', (env) => {
    const [min, max] = bounds(env);
    const outside = fc.oneof(
      fc.bigInt({ min: BigInt(max) + 1n, max: BigInt(max) + 10n ** 15n }).map(String),
      min > 0
        ? fc.integer({ min: 0, max: min - 1 }).map(String)
        : fc.integer({ min: -1e9, max: -1 }).map(String),
      fc.string({ minLength: 1 }).filter((s) => !/^\s*\d+\s*$/.test(s)),
      fc.double({ noInteger: true, noNaN: true }).map(String),
    );
    fc.assert(
      fc.property(outside, (raw) => {
        expect(message({ ...BASE, [env]: raw })).toBe(
          `Invalid ${env}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`,
        );
      }),
    );
  });

  it.each(Object.entries(CHOICES))('%s: each choice in any case round-trips', (env, choices) => {
    const key = ENTRIES.find(([, s]) => s.env === env)![0];
    fc.assert(
      fc.property(fc.constantFrom(...choices), fc.integer({ min: 0, max: 2 ** 16 }), (choice, caseBits) => {
        const raw = [...choice]
          .map((c, i) => ((caseBits >> (i % 16)) & 1 ? c.toUpperCase() : c.toLowerCase()))
          .join('');
        const expected = env === 'LOG_LEVEL' ? LOG_LEVELS[choice as keyof typeof LOG_LEVELS] : choice;
        expect(parseEnv({ ...BASE, [env]: raw })[key]).toBe(expected);
      }),
    );
  });

  it.each(Object.entries(CHOICES))('%s: any other word is refused, naming the variable', (env) => {
    const all = SETTINGS[ENTRIES.find(([, s]) => s.env === env)![0]].accepts;
    const words = all.replace('one of ', '').split(', ');
    fc.assert(
      fc.property(
        fc
          .string({ minLength: 1 })
          .filter((s) => !words.some((w) => w.toLowerCase() === s.trim().toLowerCase())),
        (raw) => {
          expect(message({ ...BASE, [env]: raw })).toBe(
            `Invalid ${env}=${JSON.stringify(raw)}: expected ${all}`,
          );
        },
      ),
    );
  });

  const tokenChar = fc.constantFrom(
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/=',
  );
  const token = (minLength: number) => fc.string({ unit: tokenChar, minLength, maxLength: 64 });

  it('INGEST_TOKENS: tokens of 16 characters or more round-trip, blanks and empty items dropped', () => {
    fc.assert(
      fc.property(
        fc.array(token(16), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(',', ', ', ' ,', ',,'),
        (tokens, sep) => {
          expect(parseEnv({ INGEST_TOKENS: ` ${tokens.join(sep)} ` }).ingestTokens).toEqual(tokens);
        },
      ),
    );
  });

  it('MONITOR_TOKEN: a token of 16 characters or more round-trips, blanks around it dropped', () => {
    fc.assert(
      fc.property(token(16), fc.constantFrom('', ' ', '\t', ' \n'), (t, pad) => {
        expect(parseEnv({ MONITOR_TOKEN: `${pad}${t}${pad}` }).monitorToken).toBe(t);
      }),
    );
  });

  const FLAGS: [string, boolean][] = [
    ['1', true],
    ['true', true],
    ['yes', true],
    ['on', true],
    ['0', false],
    ['false', false],
    ['no', false],
    ['off', false],
  ];

  it('ALLOW_WEAK_TOKENS: each spelling in any case round-trips; any other word is refused, naming it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAGS), fc.integer({ min: 0, max: 31 }), ([word, value], caseBits) => {
        const raw = [...word].map((c, i) => ((caseBits >> i) & 1 ? c.toUpperCase() : c)).join('');
        expect(parseEnv({ ALLOW_WEAK_TOKENS: raw }).allowWeakTokens).toBe(value);
      }),
    );
    const accepts = SETTINGS.allowWeakTokens.accepts;
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => !FLAGS.some(([w]) => w === s.trim().toLowerCase())),
        (raw) => {
          expect(message({ ALLOW_WEAK_TOKENS: raw })).toBe(
            `Invalid ALLOW_WEAK_TOKENS=${JSON.stringify(raw)}: expected ${accepts}`,
          );
        },
      ),
    );
  });

  // Each secret carries a marker in every piece, so a partial leak shows as well as a whole one.
  const MARK = 'Zq9';
  const marked = fc
    .array(fc.tuple(token(0), fc.constantFrom('', '@', '/', '#', ':', ',', '?', '%40', ' ')), {
      minLength: 1,
      maxLength: 4,
    })
    .map((parts) => parts.map(([t, sep]) => `${MARK}${t}${sep}`).join(''));

  it('redactUrl leaves no part of a user or password behind, however unescaped', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('redis://', 'rediss://', 'nats://', 'tls://', 'redis:/', ''),
        fc.option(marked, { nil: undefined }),
        marked,
        (scheme, user, password) => {
          const url = `${scheme}${user ?? ''}:${password}@cache.internal:6379/0`;
          const shown = redactUrl(url);
          expect(shown).not.toContain(MARK);
          expect(shown.endsWith('[redacted]@cache.internal:6379/0')).toBe(true);
        },
      ),
    );
  });

  it('no secret ever appears in a message', () => {
    const secretEnv = fc.record(
      {
        INGEST_TOKENS: fc
          .array(fc.tuple(token(0), fc.boolean()), { minLength: 1, maxLength: 3 })
          .map((ts) => ts.map(([t, long]) => `${MARK}${t}${long ? 'x'.repeat(16) : ''}`).join(',')),
        MONITOR_TOKEN: token(0).map((t) => `${MARK}${t}`),
        NATS_TOKEN: token(0).map((t) => `${MARK}${t}`),
        REDIS_URL: fc
          .tuple(
            fc.constantFrom('redis://', 'rediss://', 'redis:/', 'http://', ''),
            marked,
            fc.constantFrom('h:6379', ' h', ''),
          )
          .map(([s, p, h]) => `${s}u:${p}@${h}`),
        NATS_URL: fc
          .array(fc.tuple(fc.constantFrom('nats://', 'tls://', 'http://', ''), marked), {
            minLength: 1,
            maxLength: 3,
          })
          .map((urls) => urls.map(([s, p]) => `${s}${MARK}:${p}@n1:4222`).join(',')),
        ALLOW_WEAK_TOKENS: fc.constantFrom('0', '1', 'maybe'),
        WORKERS: fc.constantFrom('1', '2', 'x'),
        SINK: fc.constantFrom('none', 'redis-stream', 'nats', 'kafka'),
        PORT: fc.constantFrom('8000', 'eighty'),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(secretEnv, (env) => {
        const text = message(env);
        if (text !== undefined) expect(text).not.toContain(MARK);
      }),
      { numRuns: 500 },
    );
  });
});
