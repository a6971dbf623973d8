import { MsgHdrsImpl } from '@nats-io/transport-node';
import fc from 'fast-check';
import { WireBytes, plainPubAck } from './publisher.js';

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

describe(WireBytes.name, () => {
  it('keeps every view intact across slabs (one view per text, UTF-8)', () => {
    const wire = new WireBytes();
    const texts = Array.from({ length: 3000 }, (_, i) =>
      i % 2 === 0 ? `{"n":${i},"é":"${'ü'.repeat(i % 200)}"}` : `NATS/1.0\r\nn: ${i}\r\n\r\n`,
    );
    const views = texts.map((t) => wire.utf8(t));
    expect(views.map((view) => Buffer.from(view).toString())).toEqual(texts);
  });

  it('frames every message as the protocol does, each view intact across slabs', () => {
    const wire = new WireBytes();
    const token = fc.stringMatching(/^[A-Za-z0-9_$]{1,20}$/);
    const message = fc.record({
      subject: token,
      reply: token,
      headerBlock: fc.option(fc.string({ unit: 'grapheme', maxLength: 300 }), { nil: undefined }),
      data: fc.string({ unit: 'grapheme', maxLength: 3000 }),
    });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 200 }), (messages) => {
        const views = messages.map(
          (m) => [m, wire.frame(m.subject, m.reply, m.headerBlock, m.data), wire.size] as const,
        );
        for (const [{ subject, reply, headerBlock, data }, view, size] of views) {
          const h = headerBlock === undefined ? 0 : Buffer.byteLength(headerBlock);
          const d = Buffer.byteLength(data);
          expect(size).toBe(h + d);
          expect(Buffer.from(view).toString()).toBe(
            headerBlock === undefined
              ? `PUB ${subject} ${reply} ${d}\r\n${data}\r\n`
              : `HPUB ${subject} ${reply} ${h} ${h + d}\r\n${headerBlock}${data}\r\n`,
          );
        }
      }),
      { numRuns: 50 },
    );
  });

  it('gives the client header bytes it decodes', () => {
    const decoded = MsgHdrsImpl.decode(
      new WireBytes().utf8('NATS/1.0\r\nseq: 7\r\nNats-Msg-Id: s:7\r\n\r\n'),
    );
    expect([decoded.get('seq'), decoded.get('Nats-Msg-Id')]).toEqual(['7', 's:7']);
  });
});
