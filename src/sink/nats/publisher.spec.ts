import fc from 'fast-check';
import { plainPubAck } from './publisher.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text));

describe(plainPubAck.name, () => {
  it.each([
    '{"stream":"CBSA","seq":12}',
    '{"stream":"CBSA","domain":"hub","seq":12}',
    '{"stream":"CBSA_streams","seq":9007199254740991}',
  ])('reads %s as stored without parsing it', (ack) => {
    expect(plainPubAck(bytes(ack))).toBe('stored');
  });

  it.each([
    '{"stream":"CBSA","seq":12,"duplicate":true}',
    '{"stream":"CBSA","duplicate":true,"seq":12}',
    '{"stream":"CBSA","error":{"code":500}}',
    '{"error":{"code":503,"err_code":10077,"description":"no stream"}}',
    '{"stream":"","seq":1}',
    '{"seq":1,"stream":"CBSA"}',
    ' {"stream":"CBSA","seq":1}',
    '{"stream":"CBSA","seq":1',
    '{"stream":"',
    '',
  ])('leaves %j to JSON.parse', (ack) => {
    expect(plainPubAck(bytes(ack))).toBeUndefined();
  });

  it('says stored only for replies that parse as a stored PubAck (no error, a stream, not a duplicate)', () => {
    const field = fc.oneof(
      fc.record({ stream: fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/) }),
      fc.record({ seq: fc.nat() }),
      fc.record({ domain: fc.stringMatching(/^[a-z]{0,6}$/) }),
      fc.record({ duplicate: fc.boolean() }),
      fc.record({ error: fc.record({ code: fc.nat(), description: fc.string() }) }),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 5 }), (fields) => {
        const text = JSON.stringify(Object.assign({}, ...fields));
        const ack = JSON.parse(text) as { stream?: string; duplicate?: boolean; error?: unknown };
        const stored = ack.error === undefined && !!ack.stream && ack.duplicate !== true;
        if (plainPubAck(bytes(text)) === 'stored') expect(stored).toBe(true);
      }),
    );
  });
});
