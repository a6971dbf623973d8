import { readFileSync } from 'node:fs';
import {
  ENV_EXAMPLE_PATH,
  envExample,
  CONFIG_DOC_PATH,
  TABLE_END,
  TABLE_START,
  withTable,
} from './config-docs.js';
import { SETTINGS } from './schema.js';

describe('config docs', () => {
  it('docs/configuration.md has the configuration tables generated from the schema (npm run config:docs)', () => {
    const doc = readFileSync(CONFIG_DOC_PATH, 'utf8');
    expect(doc).toBe(withTable(doc));
  });

  it('.env.example is the one generated from the schema (npm run config:docs)', () => {
    expect(readFileSync(ENV_EXAMPLE_PATH, 'utf8')).toBe(envExample());
  });

  it('lists every variable exactly once in each', () => {
    const full = readFileSync(CONFIG_DOC_PATH, 'utf8');
    const readme = full.slice(full.indexOf(TABLE_START), full.indexOf(TABLE_END));
    const example = readFileSync(ENV_EXAMPLE_PATH, 'utf8');
    for (const { env } of Object.values(SETTINGS)) {
      expect([env, readme.split(`| \`${env}\` |`).length - 1]).toEqual([env, 1]);
      expect([env, (example.match(new RegExp(`^(?:# )?${env}=`, 'gm')) ?? []).length]).toEqual([env, 1]);
    }
  });

  it('declares each variable once', () => {
    const names = Object.values(SETTINGS).map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
  });
});
