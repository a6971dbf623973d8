// The verifier threads: real worker threads checking real ES256 tokens; one dies mid-request and
// is replaced, its request answered 'unavailable', and the next token is checked again.
import type { Worker } from 'node:worker_threads';
import { AUDIENCE, ISSUER, type SigningKey, mint, signingKey } from '../../test/support/auth.js';
import { VerifierPool } from './verifier-pool.js';
import type { CheckOptions } from './verify-worker.js';

describe('VerifierPool', () => {
  let key: SigningKey;
  let options: CheckOptions;
  const errors: Error[] = [];
  let pool: VerifierPool;

  beforeAll(async () => {
    key = await signingKey('ES256');
    options = {
      source: { spki: key.publicPem!, algorithms: ['ES256'] },
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceS: 0,
    };
  });
  beforeEach(() => {
    errors.length = 0;
    pool = new VerifierPool(2, options, (err) => errors.push(err));
  });
  afterEach(() => pool.close());

  it('answers each token with its claims, or why it is refused, from two threads at once', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => mint(key, { sub: `device-${i}`, scope: 'a b' })),
    );
    const verdicts = await Promise.all(tokens.map((token) => pool.check(token)));
    expect(verdicts).toEqual(
      tokens.map((_, i) => ({
        sub: `device-${i}`,
        kid: key.kid,
        exp: expect.any(Number) as unknown,
        scope: 'a b',
      })),
    );
    const other = await signingKey('ES256');
    expect(await pool.check(await mint(other))).toBe('invalid');
    expect(await pool.check(await mint(key, { expiresIn: -5 }))).toBe('expired');
    expect(await pool.check('not-a-jwt')).toBe('invalid');
    expect(errors).toEqual([]);
  });

  it('a thread that exits is replaced: its requests answer "unavailable", later ones are checked', async () => {
    const token = await mint(key, { sub: 'device-1' });
    const threads = (pool as unknown as { threads: { worker: Worker }[] }).threads;
    const [first] = threads;
    const cutOff = pool.check(token);
    await first.worker.terminate();
    expect(await cutOff).toBe('unavailable');
    expect(errors.map((e) => e.message)).toEqual(['a JWT verifier thread exited; starting another']);
    expect(threads[0]).not.toBe(first);
    const verdicts = await Promise.all([pool.check(token), pool.check(token), pool.check(token)]);
    expect(verdicts.map((v) => typeof v === 'object' && v.sub)).toEqual(['device-1', 'device-1', 'device-1']);
  });
});
