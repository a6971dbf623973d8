// Turns the environment into the typed config, against the declarations in schema.ts.
import { z } from 'zod';
import { redactUrl } from './redact.js';
import { type AppConfig, RULES, SETTINGS } from './schema.js';
import type { Setting } from './setting.js';

export { type AppConfig, LOG_LEVELS, PACKAGE_ROOT, type PinoLevel } from './schema.js';

/** Every invalid variable at once, one line each: `Invalid PORT="abc": expected an integer from 0 to 65535`. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;
type AnySetting = Setting<unknown>;

const ENTRIES = Object.entries(SETTINGS) as [keyof AppConfig, AnySetting][];
const BY_ENV = new Map(ENTRIES.map(([key, s]) => [s.env, { key, setting: s }]));

// One zod object over the raw variables, so zod reports every invalid one in one pass.
// Unset and empty are the same: the default applies.
const ENV_SCHEMA = z.object(
  Object.fromEntries(
    ENTRIES.map(([, s]) => [s.env, z.preprocess((v) => (v === '' ? undefined : v), s.schema.optional())]),
  ),
);

/** A raw value as an error may show it: secrets never, URLs without their credentials. */
export function shown(setting: Pick<AnySetting, 'secret'>, raw: string): string {
  if (setting.secret === 'value') return '[redacted]';
  return JSON.stringify(setting.secret === 'credentials' ? redactUrl(raw) : raw);
}

function problem(setting: AnySetting, raw: string, expected: string): string {
  return `Invalid ${setting.env}=${shown(setting, raw)}: expected ${expected}`;
}

/** Turns raw environment variables into the typed config, or throws a ConfigError naming every invalid one. */
export function parseEnv(env: Env): AppConfig {
  const problems = new Map<string, string>();
  const result = ENV_SCHEMA.safeParse(env);
  const parsed: Record<string, unknown> = result.success ? result.data : {};
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0]);
      const { setting } = BY_ENV.get(name)!;
      if (problems.has(name)) continue;
      // A refinement explains itself; any other failure means the value is not of the declared kind.
      const expected = issue.code === 'custom' && issue.message ? issue.message : setting.accepts;
      problems.set(name, problem(setting, env[name] ?? '', expected));
    }
    // The valid ones still count, so the rules below can check them.
    for (const [, s] of ENTRIES) {
      if (problems.has(s.env)) continue;
      const one = ENV_SCHEMA.shape[s.env].safeParse(env[s.env]);
      if (one.success) parsed[s.env] = one.data;
    }
  }

  const config = {} as Record<keyof AppConfig, unknown>;
  for (const [key, s] of ENTRIES) config[key] = parsed[s.env] ?? s.default;
  for (const [key, s] of ENTRIES) {
    if (s.defaultFrom !== undefined && parsed[s.env] === undefined) {
      config[key] = config[s.defaultFrom as keyof AppConfig];
    }
  }
  const cfg = config as AppConfig;

  for (const rule of RULES) {
    if (problems.has(rule.variable) || rule.uses.some((name) => problems.has(name))) continue;
    if (!rule.broken(cfg)) continue;
    const { key, setting } = BY_ENV.get(rule.variable)!;
    const expected = typeof rule.expected === 'string' ? rule.expected : rule.expected(cfg);
    if (!env[rule.variable] && cfg[key] === undefined) {
      // A setting a rule requires and nobody set (AUTH_JWT_ISSUER in JWT mode).
      problems.set(rule.variable, `Missing ${setting.env}: expected ${expected}`);
      continue;
    }
    const raw = env[rule.variable] || String(cfg[key]);
    problems.set(rule.variable, problem(setting, raw, expected));
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()]);
  return cfg;
}
