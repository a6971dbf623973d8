// The field policy (EVENT_POLICY_FILE): rules that drop, hash, round or allow-list fields of every
// event before it is stored, shown on monitors or published on the bus. Pure: parse() checks a
// document and names every problem at once, compile() turns it into the per-event transform.
import { createHash, createHmac } from 'node:crypto';

export const POLICY_ACTIONS = ['allow', 'drop', 'hash', 'round'] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];

export interface PolicyRule {
  /** `category`: the flow-map category; any other key: equality with that top-level field. */
  match?: Record<string, string | number | boolean | null>;
  allow?: string[];
  drop?: string[];
  hash?: string[];
  round?: Record<string, number>;
}

export interface PolicyDocument {
  rules: PolicyRule[];
}

/** Which fields the rules that applied to an event touched, for the monitor page. */
export interface PolicyMarks {
  dropped: string[];
  hashed: string[];
  rounded: string[];
}

const MAX_DECIMALS = 15;
const PATH = /^[^.]+(\.[^.]+)*$/;
const RULE_KEYS = new Set(['match', ...POLICY_ACTIONS]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPaths(where: string, v: unknown, errors: string[]): void {
  if (!Array.isArray(v) || v.length === 0) {
    errors.push(`${where}: expected a non-empty array of dotted field paths`);
    return;
  }
  v.forEach((p, i) => {
    if (typeof p !== 'string' || !PATH.test(p))
      errors.push(`${where}[${i}]: expected a dotted field path such as "a.b"`);
  });
}

/** Checks a parsed policy document; returns it typed, or every problem found, each with its place. */
export function validatePolicy(
  doc: unknown,
  hashKeySet: boolean,
): { policy?: PolicyDocument; errors: string[] } {
  const errors: string[] = [];
  if (!isObject(doc)) return { errors: ['the policy: expected an object {"rules":[...]}'] };
  for (const key of Object.keys(doc))
    if (key !== 'rules') errors.push(`"${key}": unknown key (only "rules")`);
  if (!Array.isArray(doc.rules)) {
    errors.push('rules: expected an array of rules');
    return { errors };
  }
  doc.rules.forEach((rule: unknown, i) => {
    const at = `rules[${i}]`;
    if (!isObject(rule)) return errors.push(`${at}: expected an object`);
    for (const key of Object.keys(rule)) {
      if (!RULE_KEYS.has(key)) errors.push(`${at}.${key}: unknown key (match, ${POLICY_ACTIONS.join(', ')})`);
    }
    if (!POLICY_ACTIONS.some((a) => a in rule))
      errors.push(`${at}: has no action (${POLICY_ACTIONS.join(', ')})`);
    if ('match' in rule) {
      const match = rule.match;
      if (!isObject(match) || Object.keys(match).length === 0) {
        errors.push(`${at}.match: expected an object of field values, such as {"category":"keystroke"}`);
      } else {
        for (const [field, value] of Object.entries(match)) {
          if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) {
            errors.push(`${at}.match.${field}: expected a string, number, boolean or null`);
          }
        }
      }
    }
    for (const action of ['allow', 'drop', 'hash'] as const) {
      if (action in rule) checkPaths(`${at}.${action}`, rule[action], errors);
    }
    if ('hash' in rule && !hashKeySet) errors.push(`${at}.hash: needs POLICY_HASH_KEY to be set`);
    if ('round' in rule) {
      const round = rule.round;
      if (!isObject(round) || Object.keys(round).length === 0) {
        errors.push(`${at}.round: expected an object {"field": decimals}`);
      } else {
        for (const [field, n] of Object.entries(round)) {
          if (!PATH.test(field)) errors.push(`${at}.round."${field}": expected a dotted field path`);
          if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > MAX_DECIMALS) {
            errors.push(`${at}.round.${field}: expected an integer from 0 to ${MAX_DECIMALS}`);
          }
        }
      }
    }
  });
  return errors.length > 0 ? { errors } : { policy: doc as unknown as PolicyDocument, errors };
}

/** JSON with object keys sorted at every level: the same policy always has the same text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  if (isObject(v)) {
    const keys = Object.keys(v).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

/** The policy's version, stored with every entry: the first 16 hex digits of SHA-256 of its canonical form. */
export function policyVersion(policy: PolicyDocument): string {
  return createHash('sha256').update(canonicalJson(policy)).digest('hex').slice(0, 16);
}

/** The parent object of a dotted path and its last key, or undefined when the path is not there. */
function locate(
  root: Record<string, unknown>,
  path: string[],
): [Record<string, unknown>, string] | undefined {
  let node = root;
  for (let i = 0; i < path.length - 1; i++) {
    const next = node[path[i]];
    if (!isObject(next)) return undefined;
    node = next;
  }
  const last = path[path.length - 1];
  return Object.hasOwn(node, last) ? [node, last] : undefined;
}

function copyPath(from: Record<string, unknown>, to: Record<string, unknown>, path: string[]): void {
  const found = locate(from, path);
  if (found === undefined) return;
  let node = to;
  for (let i = 0; i < path.length - 1; i++) {
    const next = node[path[i]];
    node = isObject(next) ? next : (node[path[i]] = {});
  }
  node[path[path.length - 1]] = found[0][found[1]];
}

interface CompiledRule {
  match: [string, unknown][] | undefined;
  category: string | undefined;
  allow: string[][] | undefined;
  drop: string[][];
  hash: string[][];
  round: [string[], number][];
  marks: PolicyMarks;
}

/** What apply() returns for a changed event: its new value and text, and what the rules did. */
export interface Transformed {
  value: unknown;
  text: string;
  /** Indexes of the rules that applied. */
  rules: number[];
}

/** A policy ready for the hot path: paths split once, the HMAC key bound. */
export class CompiledPolicy {
  readonly version: string;
  private readonly rules: CompiledRule[];
  /** Per rule and action, how many events it was applied to (cbsa_policy_actions_total). */
  readonly counts: Record<PolicyAction, number>[];
  /** Whether the event apply() works on was changed by any rule so far. */
  private changed = false;

  constructor(
    readonly document: PolicyDocument,
    private readonly hashKey: string | undefined,
  ) {
    this.version = policyVersion(document);
    const split = (paths: string[] | undefined) => (paths ?? []).map((p) => p.split('.'));
    this.rules = document.rules.map((r) => {
      const { category, ...fields } = r.match ?? {};
      return {
        match: r.match === undefined ? undefined : Object.entries(fields),
        category: category === undefined ? undefined : String(category),
        allow: r.allow === undefined ? undefined : split(r.allow),
        drop: split(r.drop),
        hash: split(r.hash),
        round: Object.entries(r.round ?? {}).map(([f, n]) => [f.split('.'), n]),
        marks: { dropped: r.drop ?? [], hashed: r.hash ?? [], rounded: Object.keys(r.round ?? {}) },
      };
    });
    this.counts = this.rules.map(() => ({ allow: 0, drop: 0, hash: 0, round: 0 }));
  }

  /**
   * Applies the rules in order to a parsed event of flow-map `category`. Returns undefined when no
   * rule changed it (the text stays exactly as sent), else the new value, its JSON and the rules
   * that applied. The value is changed in place: it is this frame's own parse.
   */
  apply(value: unknown, category: string | null): Transformed | undefined {
    let applied: number[] | undefined;
    this.changed = false;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i];
      if (rule.category !== undefined && rule.category !== category) continue;
      if (rule.match !== undefined && rule.match.length > 0) {
        if (!isObject(value)) continue;
        let ok = true;
        for (const [field, want] of rule.match) {
          if (value[field] !== want) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
      }
      value = this.applyRule(i, rule, value);
      (applied ??= []).push(i);
    }
    // Nothing to drop, hash or round was there: the text stays as sent (no re-serialising).
    if (applied === undefined || !this.changed) return undefined;
    return { value, text: JSON.stringify(value), rules: applied };
  }

  /** The fields the given rules name, for the monitor page (dropped, hashed, rounded). */
  marks(rules: number[]): PolicyMarks {
    const marks: PolicyMarks = { dropped: [], hashed: [], rounded: [] };
    for (const i of rules) {
      const m = this.rules[i].marks;
      marks.dropped.push(...m.dropped);
      marks.hashed.push(...m.hashed);
      marks.rounded.push(...m.rounded);
    }
    return marks;
  }

  private applyRule(index: number, rule: CompiledRule, value: unknown): unknown {
    const counts = this.counts[index];
    if (rule.allow !== undefined) {
      counts.allow++;
      // Anything that is not an object has no fields to keep: it becomes {}.
      const kept: Record<string, unknown> = {};
      if (isObject(value)) {
        for (const path of rule.allow) copyPath(value, kept, path);
        if (Object.hasOwn(value, 'seq')) kept.seq = value.seq;
      }
      value = kept;
      this.changed = true;
    }
    if (!isObject(value)) return value;
    if (rule.drop.length > 0) {
      counts.drop++;
      for (const path of rule.drop) {
        const found = locate(value, path);
        if (found === undefined) continue;
        delete found[0][found[1]];
        this.changed = true;
      }
    }
    if (rule.hash.length > 0) {
      counts.hash++;
      for (const path of rule.hash) {
        const found = locate(value, path);
        if (found === undefined) continue;
        const v = found[0][found[1]];
        const input = typeof v === 'string' ? v : JSON.stringify(v);
        found[0][found[1]] = createHmac('sha256', this.hashKey!).update(input).digest('hex');
        this.changed = true;
      }
    }
    if (rule.round.length > 0) {
      counts.round++;
      for (const [path, decimals] of rule.round) {
        const found = locate(value, path);
        if (found === undefined) continue;
        const v = found[0][found[1]];
        // A field to round that is not a finite number is dropped: it could carry what rounding hides.
        if (typeof v === 'number' && Number.isFinite(v)) found[0][found[1]] = Number(v.toFixed(decimals));
        else delete found[0][found[1]];
        this.changed = true;
      }
    }
    return value;
  }
}
