// The monitor page's pure modules (public/js, checked by tsc with checkJs): event parsing, filters,
// what the page asks the server for, refusal lines, the instances strip and the flow-graph layout.
import { readFileSync } from 'node:fs';
import { explain, refusalOf } from '../../public/js/diagnose.js';
import { compileFilter, serverFilter, streamParams, summarize } from '../../public/js/events.js';
import { layoutGraph } from '../../public/js/flow-graph.js';
import { GONE_MS, Instances } from '../../public/js/instances.js';
import { DEFAULT_FLOW_MAP_FILE, type FlowMapDocument } from '../stream/flow-map.js';

type Kind = 'source' | 'stage' | 'category' | 'sink';
const mapOf = (nodes: [string, Kind][], edges: [string, string][]) => ({
  nodes: nodes.map(([id, kind]) => ({ id, label: id, kind })),
  edges: edges.map(([from, to]) => ({ from, to })),
});

/** The layout as node ids per column, top to bottom, with each node's row. */
function columnsOf(map: ReturnType<typeof mapOf> | FlowMapDocument) {
  const { columns, row } = layoutGraph(map) as { columns: number[][]; row: number[] };
  return columns.map((column) => column.map((i) => [map.nodes[i].id, row[i]]));
}

describe('monitor page modules', () => {
  it('summarizes an event and filters it by field and free text', () => {
    const s = summarize({
      message_id: 7,
      client_id: 'c1',
      status: 'received',
      server_timestamp: 1.5,
      path: ['client', 'ack'],
      category: 'touch',
      size: 70,
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
    const streamed = summarize({
      message_id: 8,
      client_id: 'c2',
      status: 'received',
      server_timestamp: 1.6,
      path: ['client', 'ack'],
      category: 'touch',
      size: 9,
      stream: 'i-7:s@2',
      seq: 3,
      data: {},
    });
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

  it('lays the default map out in columns by distance from the source, sinks last on ties, rows centred', () => {
    const map = JSON.parse(readFileSync(DEFAULT_FLOW_MAP_FILE, 'utf8')) as FlowMapDocument;
    expect(columnsOf(map)).toEqual([
      [['client', 0]],
      [['ingest', 0]],
      [['parse', 0]],
      [
        ['classify', -0.5],
        ['error', 0.5],
      ],
      [
        ['touch', -2],
        ['gesture', -1],
        ['keystroke', 0],
        ['motion', 1],
        ['other', 2],
      ],
      [['stream', 0]],
      [['ack', 0]],
    ]);
  });

  it('orders a column by the mean row of its predecessors, places unreachable nodes after them, and skips unknown edges', () => {
    const map = mapOf(
      [
        ['a', 'source'],
        ['low', 'stage'],
        ['high', 'stage'],
        ['x', 'sink'],
        ['y', 'stage'],
        ['orphan', 'stage'],
        ['after', 'sink'],
      ],
      [
        ['a', 'low'],
        ['a', 'high'],
        ['high', 'x'],
        ['low', 'y'],
        ['orphan', 'after'],
        ['a', 'nowhere'],
      ],
    );
    // low and high tie (both after a); y follows low (row -0.5), x follows high (row 0.5).
    // orphan cannot be reached from the source: it starts a column of its own, after it its successor.
    expect(columnsOf(map)).toEqual([
      [
        ['a', -0.5],
        ['orphan', 0.5],
      ],
      [
        ['low', -1],
        ['high', 0],
        ['after', 1],
      ],
      [
        ['y', -0.5],
        ['x', 0.5],
      ],
    ]);
  });

  it('starts from the nodes nothing points to when the map names no source', () => {
    const map = mapOf(
      [
        ['b', 'stage'],
        ['a', 'stage'],
      ],
      [['a', 'b']],
    );
    expect(columnsOf(map)).toEqual([[['a', 0]], [['b', 0]]]);
  });
});
