// The settings as a host application passes them to CbsaModule: the environment's variables in
// camelCase, checked by the same schema (env.ts) so a bad value gets the same message either way.
import { type AppConfig, ConfigError, parseEnv } from './env.js';
import { SETTINGS } from './schema.js';

/**
 * A setting's value as a host writes it: the parsed type, or the text the environment would hold
 * (a word setting takes the environment's words: logLevel 'WARNING', sink 'nats').
 */
type Given<T> = T extends readonly string[]
  ? readonly string[] | string
  : T extends number
    ? number | string
    : T extends boolean
      ? boolean | string
      : T extends string
        ? string
        : T;

/** Every setting of the environment (see docs/configuration.md), in camelCase, all optional. */
export type CbsaSettings = { [K in keyof AppConfig]?: Given<AppConfig[K]> };

export interface CbsaOptions extends CbsaSettings {
  /**
   * `nest` (the default): CBSA logs through the application's Nest logger and leaves the host's
   * requests unlogged. `pino`: CBSA writes its own JSON lines (or pretty ones, `logFormat`) to stdout.
   */
  logger?: 'nest' | 'pino';
}

export interface ResolvedOptions {
  config: AppConfig;
  logger: 'nest' | 'pino';
  /** The standalone service owns the whole HTTP server: every request is its own (main.ts). */
  ownsServer: boolean;
}

const ENV_OF = new Map(Object.entries(SETTINGS).map(([key, s]) => [key, s.env]));

function asEnvText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'boolean') return value ? '1' : '0';
  // Anything else (an object) is shown as JSON, so its error names what was given.
  return typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/** Validates module options as parseEnv validates the environment; unknown keys are errors too. */
export function resolveOptions(options: CbsaOptions = {}): ResolvedOptions {
  const { logger = 'nest', ...settings } = options;
  const env: Record<string, string | undefined> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    const name = ENV_OF.get(key);
    if (name === undefined) unknown.push(`Unknown option ${key}: not a CBSA setting`);
    else env[name] = asEnvText(value);
  }
  if (logger !== 'nest' && logger !== 'pino')
    unknown.push(`Invalid logger=${JSON.stringify(logger)}: expected nest or pino`);
  let config: AppConfig;
  try {
    config = parseEnv(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...unknown, ...err.problems]);
    throw err;
  }
  if (unknown.length > 0) throw new ConfigError(unknown);
  return { config, logger, ownsServer: false };
}
