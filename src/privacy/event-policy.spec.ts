import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/schema.js';
import {
  CompiledPolicy,
  canonicalJson,
  policyVersion,
  validatePolicy,
  type PolicyDocument,
} from './event-policy.js';

const KEY = 'k'.repeat(32);
const hmac = (text: string) => createHmac('sha256', KEY).update(text).digest('hex');
const compile = (doc: PolicyDocument) => new CompiledPolicy(doc, KEY);

describe(CompiledPolicy.name, () => {
  it('names every problem of a policy at once, each with its place', () => {
    const { policy, errors } = validatePolicy(
      {
        rules: [
          { match: { category: ['x'] }, drop: 'key' },
          { hash: ['user_id'], round: { 'a.b': 20 }, keep: ['x'] },
          { match: {} },
          'rule',
        ],
        extra: 1,
      },
      false,
    );
    expect(policy).toBeUndefined();
    expect(errors).toEqual([
      '"extra": unknown key (only "rules")',
      'rules[0].match.category: expected a string, number, boolean or null',
      'rules[0].drop: expected a non-empty array of dotted field paths',
      'rules[1].keep: unknown key (match, allow, drop, hash, round)',
      'rules[1].hash: needs POLICY_HASH_KEY to be set',
      'rules[1].round.a.b: expected an integer from 0 to 15',
      'rules[2]: has no action (allow, drop, hash, round)',
      'rules[2].match: expected an object of field values, such as {"category":"keystroke"}',
      'rules[3]: expected an object',
    ]);
    expect(validatePolicy([], true).errors).toEqual(['the policy: expected an object {"rules":[...]}']);
  });

  it('applies the rules in order: match by category or field, drop, hash (HMAC-SHA256), round, allow', () => {
    const policy = compile({
      rules: [
        { match: { category: 'keystroke' }, drop: ['key', 'meta.char'] },
        { hash: ['user_id'] },
        { match: { kind: 'pos' }, round: { x: 1, y: 0 } },
        { match: { kind: 'slim' }, allow: ['keep', 'deep.a'] },
      ],
    });
    const key = {
      event_type: 'keydown',
      key: 'p',
      meta: { char: 'p', t: 3 },
      dwell: 81,
      user_id: 'u1',
      seq: 4,
    };
    expect(policy.apply(key, 'keystroke')).toEqual({
      value: { event_type: 'keydown', meta: { t: 3 }, dwell: 81, user_id: hmac('u1'), seq: 4 },
      text: JSON.stringify({ event_type: 'keydown', meta: { t: 3 }, dwell: 81, user_id: hmac('u1'), seq: 4 }),
      rules: [0, 1],
    });
    // The same input always hashes the same (joins still work); numbers hash by their JSON text.
    expect(policy.apply({ user_id: 'u1' }, 'touch')!.value).toEqual({ user_id: hmac('u1') });
    expect(policy.apply({ user_id: 7 }, 'touch')!.value).toEqual({ user_id: hmac('7') });
    expect(policy.apply({ kind: 'pos', x: 1.26, y: 2.5, z: 1.26 }, 'other')!.value).toEqual({
      kind: 'pos',
      x: 1.3,
      y: 3,
      z: 1.26,
    });
    // A field to round that is not a number is dropped rather than kept as sent.
    expect(policy.apply({ kind: 'pos', x: '1.26' }, 'other')!.value).toEqual({ kind: 'pos' });
    expect(
      policy.apply({ kind: 'slim', keep: 1, drop: 2, deep: { a: 1, b: 2 }, seq: 9 }, 'other')!.value,
    ).toEqual({ keep: 1, deep: { a: 1 }, seq: 9 });
    // Rule 1 applies to every event; one without the field is not changed, so not re-serialised.
    expect(policy.apply({ a: 1 }, 'touch')).toBeUndefined();
    expect(policy.counts).toEqual([
      { allow: 0, drop: 1, hash: 0, round: 0 },
      { allow: 0, drop: 0, hash: 7, round: 0 },
      { allow: 0, drop: 0, hash: 0, round: 2 },
      { allow: 1, drop: 0, hash: 0, round: 0 },
    ]);
  });

  it('leaves events no rule changes untouched (undefined: the text stays as sent)', () => {
    const policy = compile({ rules: [{ match: { category: 'keystroke' }, drop: ['key'] }] });
    expect(policy.apply({ key: 'a' }, 'touch')).toBeUndefined();
    expect(policy.apply({ dwell: 1 }, 'keystroke')).toBeUndefined();
    expect(policy.apply([1, 2], 'keystroke')).toBeUndefined();
    // allow on something that is not an object keeps nothing of it.
    expect(compile({ rules: [{ allow: ['a'] }] }).apply('secret', null)!.value).toEqual({});
  });

  it('has a version that is the hash of its canonical form (key order does not matter)', () => {
    const a: PolicyDocument = { rules: [{ match: { category: 'k' }, drop: ['key'] }] };
    const b = JSON.parse('{"rules":[{"drop":["key"],"match":{"category":"k"}}]}') as PolicyDocument;
    expect(canonicalJson(b)).toBe('{"rules":[{"drop":["key"],"match":{"category":"k"}}]}');
    expect(policyVersion(a)).toBe(policyVersion(b));
    expect(policyVersion(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(policyVersion({ rules: [{ drop: ['char'] }] })).not.toBe(policyVersion(a));
  });

  it('the example policy keeps keystroke timings and drops key identity', () => {
    const doc: unknown = JSON.parse(
      readFileSync(join(PACKAGE_ROOT, 'examples', 'keystroke-privacy-policy.json'), 'utf8'),
    );
    const { policy, errors } = validatePolicy(doc, false);
    expect(errors).toEqual([]);
    const event = {
      event_type: 'keydown',
      key: 'a',
      char: 'a',
      code: 'KeyA',
      text: 'a',
      value: 'pa',
      timestamp: 1.5,
      dwell_ms: 80,
      flight_ms: 120,
      seq: 1,
    };
    expect(new CompiledPolicy(policy!, undefined).apply(event, 'keystroke')!.value).toEqual({
      event_type: 'keydown',
      timestamp: 1.5,
      dwell_ms: 80,
      flight_ms: 120,
      seq: 1,
    });
  });
});
