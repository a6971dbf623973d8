// Quarantine (EVENT_SCHEMAS_DIR): one JSON Schema per flow-map category, `<category>.json`, compiled
// once with ajv at startup (every problem named at once). An event whose category has a schema and
// fails it is stored in the quarantine log instead of the log, with its first 3 errors, and acked
// "quarantined": it counts as stored for exactly-once (a resend is a duplicate). Categories
// without a schema take any JSON, as without EVENT_SCHEMAS_DIR.
import { Ajv, type ValidateFunction } from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const MAX_ERRORS = 3;

export class EventSchemasError extends Error {
  constructor(dir: string, problems: string[]) {
    super(`EVENT_SCHEMAS_DIR ${dir} is invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EventSchemasError';
  }
}

export class EventSchemas {
  private readonly validators = new Map<string, ValidateFunction>();
  quarantined = 0;

  /** `categories`: the flow map's; a schema file for any other name is refused (it would never apply). */
  static load(dir: string, categories: readonly string[]): EventSchemas {
    const schemas = new EventSchemas();
    const problems: string[] = [];
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch (err) {
      throw new EventSchemasError(dir, [`cannot be read (${(err as Error).message})`]);
    }
    if (files.length === 0) problems.push('holds no <category>.json schema');
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const file of files.sort()) {
      const category = file.slice(0, -'.json'.length);
      if (!categories.includes(category)) {
        problems.push(`${file}: "${category}" is not a category of the flow map (${categories.join(', ')})`);
        continue;
      }
      try {
        schemas.validators.set(
          category,
          ajv.compile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as object),
        );
      } catch (err) {
        problems.push(`${file}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) throw new EventSchemasError(dir, problems);
    return schemas;
  }

  get enabled(): boolean {
    return this.validators.size > 0;
  }

  /** The first errors of an event that fails its category's schema; undefined when it passes or has none. */
  check(value: unknown, category: string | null): string[] | undefined {
    const validate = category === null ? undefined : this.validators.get(category);
    if (validate === undefined || validate(value)) return undefined;
    return (validate.errors ?? [])
      .slice(0, MAX_ERRORS)
      .map((e) => `${e.instancePath === '' ? '/' : e.instancePath} ${e.message ?? 'is invalid'}`);
  }
}
