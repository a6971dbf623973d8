import { streamOfSubject } from './nats-erasure.js';
import { belongsTo, natsSubjectTokens, redisSubjectKey, subjectOf, subjectRoot } from './subject.js';

describe('subject', () => {
  it("is the connection's sub when authenticated, else its stream id", () => {
    expect(subjectOf({ stream: 'alice:tab1' })).toBe('alice:tab1');
    // Under static tokens the connection's sub is '': the stream id decides.
    expect(subjectOf({ stream: 'alice:tab1', sub: '' })).toBe('alice:tab1');
    expect(subjectOf({ stream: 'alice:tab1', sub: 'user-7' })).toBe('user-7');
    expect(subjectOf({})).toBe('');
  });

  it('an erasure of S takes S and every "S:" stream, never a longer name that only starts alike', () => {
    expect(
      ['alice', 'alice:tab1', 'alice:tab1:x', 'alicex', 'bob:alice', 'alic'].filter((s) =>
        belongsTo(s, 'alice'),
      ),
    ).toEqual(['alice', 'alice:tab1', 'alice:tab1:x']);
    expect(belongsTo('alice:tab1', 'alice:tab1')).toBe(true);
    expect(belongsTo('alice:tab2', 'alice:tab1')).toBe(false);
    expect(subjectRoot('alice:tab1:x')).toBe('alice');
  });

  it('maps onto NATS subject tokens (one per part, valid even when empty) and back', () => {
    const tokens = natsSubjectTokens('a.b*:>:');
    expect(tokens).toMatch(/^_[A-Za-z0-9_-]*\._[A-Za-z0-9_-]*\._$/);
    expect(streamOfSubject('cbsa.events', `cbsa.events.${tokens}`)).toBe('a.b*:>:');
    // A sub-stream's subject lies below its subject's: the ".>" purge filter takes it.
    expect(natsSubjectTokens('alice:tab1').startsWith(natsSubjectTokens('alice') + '.')).toBe(true);
    expect(natsSubjectTokens('alicex').startsWith(natsSubjectTokens('alice') + '.')).toBe(false);
  });

  it('keeps Redis keys and the newline-separated script header unambiguous', () => {
    expect(redisSubjectKey('alice:tab1')).toBe('alice:tab1');
    expect(redisSubjectKey('a\nb%c')).toBe('a%0Ab%25c');
  });
});
