// The monitor page's pure modules (public/js, checked by tsc with checkJs): event parsing, filters,
// what the page asks the server for, refusal lines and the instances strip.
import { explain, refusalOf } from '../../public/js/diagnose.js';
import { compileFilter, serverFilter, streamParams, summarize } from '../../public/js/events.js';
import { GONE_MS, Instances } from '../../public/js/instances.js';

describe('monitor page modules', () => {
  it('summarizes an event and filters it by field and free text', () => {
    const s = summarize({
      message_id: 7,
      client_id: 'c1',
      status: 'received',
      server_timestamp: 1.5,
      path: ['client', 'ack'],
      category: 'touch',
      data: { user_id: 'alice', session_id: 's1', event_type: 'tap' },
    });
    expect(s).toEqual({
      event: expect.any(Object) as unknown,
      id: 7,
      client: 'c1',
      user: 'alice',
      session: 's1',
      kind: 'tap',
      category: 'touch',
      error: false,
      duplicate: false,
      status: 'received',
      time: 1.5,
      path: ['client', 'ack'],
      stream: '',
      seq: null,
      gap: 0,
      resumed: false,
    });
    expect(compileFilter('user_id:alice category:touch')!(s)).toBe(true);
    expect(compileFilter('user_id:bob')!(s)).toBe(false);
    expect(compileFilter('ali')!(s)).toBe(true);
    expect(compileFilter('   ')).toBeNull();
    const streamed = summarize({ message_id: 8, status: 'received', stream: 'i-7:s@2', seq: 3, data: {} });
    expect(compileFilter('stream:i-7:s@2')!(streamed)).toBe(true);
    expect(compileFilter('stream:i-7:s@2')!(s)).toBe(false);
  });

  it('turns the filter box into a server filter only when the server can apply every term', () => {
    expect(serverFilter('user_id:alice')).toBe('user_id:alice');
    expect(serverFilter('stream:install-7:Sess@2')).toBe('stream:install-7:Sess@2');
    expect(serverFilter('session:s1 cat:touch status:error client:"c1"')).toBe(
      'session_id:s1 category:touch status:error client:c1',
    );
    expect(serverFilter('alice')).toBeNull();
    expect(serverFilter('user_id:al*')).toBeNull();
    expect(serverFilter('type:tap')).toBeNull();
    expect(serverFilter('status:received')).toBeNull();
    expect(serverFilter('')).toBeNull();
  });

  it('asks for an exact filter, else the full stream when chosen, else a sample', () => {
    expect(streamParams({ filterText: 'user_id:alice', full: false, sample: 300 })).toEqual({
      filter: 'user_id:alice',
    });
    expect(streamParams({ filterText: 'alice', full: true, sample: 300 })).toEqual({});
    expect(streamParams({ filterText: '', full: false, sample: 150 })).toEqual({ sample: '150' });
  });

  it('explains each refusal in one line', () => {
    expect([401, 403, 503, 502, null, 426].map((s) => refusalOf(s))).toEqual([
      'unauthorized',
      'forbidden',
      'full',
      'down',
      'down',
      'unknown',
    ]);
    expect(explain('full')).toBe(
      'Monitor cap reached (MAX_MONITORS), or the server is shutting down: retrying.',
    );
  });

  it('keeps live instances, marks one that disappears as gone, and forgets it later', () => {
    const strip = new Instances();
    const a = { id: 'a', active_connections: 2, total_messages: 10, messages_per_second: 5 };
    const b = { id: 'b', active_connections: 1, total_messages: 4, messages_per_second: 1 };
    strip.update([b, a], 0);
    expect(strip.list().map((r) => [r.id, r.gone])).toEqual([
      ['a', false],
      ['b', false],
    ]);
    strip.update([a], 1000);
    expect(strip.list().map((r) => [r.id, r.gone])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    strip.update([a], 1000 + GONE_MS + 1);
    expect(strip.list().map((r) => r.id)).toEqual(['a']);
  });
});
