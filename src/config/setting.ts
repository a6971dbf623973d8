// The building blocks of the configuration schema: one declaration per environment variable, carrying
// everything the parser, the error messages, the docs table and .env.example need.
import { z } from 'zod';

export const AREAS = ['core', 'monitor', 'security', 'scale-out', 'durable sinks'] as const;
export type Area = (typeof AREAS)[number];

/**
 * How a value is kept out of errors and logs: `value` is never shown at all (tokens); `credentials`
 * is shown with the user info and password parameters of each URL replaced (Redis and NATS URLs).
 */
export type Secret = false | 'value' | 'credentials';

export interface Setting<T> {
  /** The environment variable. */
  readonly env: string;
  readonly area: Area;
  /** One line: what the setting does (docs/configuration.md and .env.example). */
  readonly description: string;
  /** What a valid value looks like; errors say `expected <accepts>`. */
  readonly accepts: string;
  /** The value when the variable is unset or empty. */
  readonly default: T;
  /** Key of the setting whose value is the default instead (RATE_LIMIT_BURST defaults to the rate). */
  readonly defaultFrom?: string;
  /** The docs' text for a default that is not a plain value. */
  readonly defaultDoc?: string;
  /** The default as written in the environment, when it differs from the config value (LOG_LEVEL). */
  readonly envDefault?: string;
  readonly secret: Secret;
  /** Parses a non-empty raw value. A refinement's own message replaces `accepts` in the error. */
  readonly schema: z.ZodType<T, string>;
}

interface Common {
  env: string;
  area: Area;
  description: string;
  defaultDoc?: string;
  secret?: Secret;
}

function setting<T>(o: Common, accepts: string, fallback: T, schema: z.ZodType<T, string>): Setting<T> {
  return {
    env: o.env,
    area: o.area,
    description: o.description,
    accepts,
    default: fallback,
    defaultDoc: o.defaultDoc,
    secret: o.secret ?? false,
    schema,
  };
}

/** A whole number within bounds; blanks around it are ignored. */
export function int(
  o: Common & { default: number; min: number; max: number; defaultFrom?: string },
): Setting<number> {
  const accepts = `an integer from ${o.min} to ${o.max}`;
  const schema = z
    .string()
    .regex(/^\s*\d+\s*$/)
    .transform((raw) => Number(raw.trim()))
    .pipe(z.number().int().min(o.min).max(o.max));
  return { ...setting(o, accepts, o.default, schema), defaultFrom: o.defaultFrom };
}

/** Free text, taken as given. */
export function text(o: Common & { default: string; accepts?: string }): Setting<string> {
  return setting(o, o.accepts ?? 'any text', o.default, z.string());
}

/** Text that may be left unset; trimmed, and blank counts as unset. */
export function optional(o: Common & { accepts: string; pattern?: RegExp }): Setting<string | undefined> {
  const pattern = o.pattern ?? /\S/;
  const schema = z
    .string()
    .transform((raw) => raw.trim())
    .pipe(z.union([z.literal('').transform(() => undefined), z.string().regex(pattern)]));
  return setting(o, o.accepts, undefined, schema);
}

/** One of a fixed set of words, in any case; `to` maps the canonical word onto the config value. */
export function choice<const C extends string, T = C>(
  o: Common & { choices: readonly C[]; default: C; to?: (choice: C) => T },
): Setting<T> {
  const to = o.to ?? ((c: C) => c as unknown as T);
  const accepts = `one of ${o.choices.join(', ')}`;
  const byLower = new Map(o.choices.map((c) => [c.toLowerCase(), c]));
  const schema = z
    .string()
    .refine((raw) => byLower.has(raw.trim().toLowerCase()), { message: accepts })
    .transform((raw) => to(byLower.get(raw.trim().toLowerCase())!));
  return { ...setting(o, accepts, to(o.default), schema), envDefault: o.default };
}

/** Comma-separated items, trimmed, blanks dropped; each item must match `item`. */
export function list(
  o: Common & { accepts: string; item?: RegExp; default?: string[]; lowercase?: boolean },
): Setting<string[]> {
  const item = o.item ?? /\S/;
  const schema = z
    .string()
    .transform((raw) =>
      raw
        .split(',')
        .map((v) => (o.lowercase ? v.trim().toLowerCase() : v.trim()))
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(item)));
  return setting(o, o.accepts, o.default ?? [], schema);
}

/** An on/off switch: 1, true, yes or on; 0, false, no or off. */
export function flag(o: Common & { default: boolean }): Setting<boolean> {
  const schema = z
    .string()
    .transform((raw) => raw.trim().toLowerCase())
    .pipe(z.enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off']))
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
  return {
    ...setting(o, '1 or 0 (also true/false, yes/no, on/off)', o.default, schema),
    envDefault: o.default ? '1' : '0',
  };
}

/** A setting with its own zod schema (and refinements that explain themselves). */
export function custom<T>(
  o: Common & { default: T; accepts: string; schema: z.ZodType<T, string> },
): Setting<T> {
  return setting(o, o.accepts, o.default, o.schema);
}

/** A rule across settings; `variable` is blamed in the error and `uses` are the settings it reads. */
export interface Rule<C> {
  readonly variable: string;
  readonly uses: readonly string[];
  /** What the variable should be, possibly stated in terms of the other settings' values. */
  readonly expected: string | ((config: C) => string);
  readonly broken: (config: C) => boolean;
}
