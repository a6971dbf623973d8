import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FLOW_MAP_FILE, FlowMap, FlowMapError, type FlowMapDocument } from './flow-map.js';

const defaultDoc = (): FlowMapDocument =>
  JSON.parse(readFileSync(DEFAULT_FLOW_MAP_FILE, 'utf8')) as FlowMapDocument;

const received = (category: string) => ['client', 'ingest', 'parse', 'classify', category, 'stream', 'ack'];

describe(FlowMap.name, () => {
  const map = FlowMap.load(undefined);

  it('loads the default map with the documented nodes and edges', () => {
    expect(map.document.nodes.map((n) => n.id)).toEqual([
      'client',
      'ingest',
      'parse',
      'error',
      'classify',
      'touch',
      'gesture',
      'keystroke',
      'motion',
      'other',
      'stream',
      'ack',
    ]);
    expect(map.document.nodes.find((n) => n.id === 'other')?.match).toEqual({ default: true });
  });

  it.each([
    [{ event_type: 'touch' }, 'touch'],
    [{ event_type: 'TAP' }, 'touch'],
    [{ event_type: 'Press' }, 'touch'],
    [{ event_type: 'swipe' }, 'gesture'],
    [{ event_type: 'fling' }, 'gesture'],
    [{ event_type: 'keyDown' }, 'keystroke'],
    [{ event_type: 'typing' }, 'keystroke'],
    [{ event_type: 'gyroscope' }, 'motion'],
    [{ event_type: 'Sensor' }, 'motion'],
    [{ type: 'scroll' }, 'gesture'],
    [{ event_type: 'unknown', type: 'tap' }, 'other'],
    [{ event_type: 42, type: 'tap' }, 'touch'],
    [{ event_type: 'blink' }, 'other'],
    [{}, 'other'],
    [['touch'], 'other'],
    ['touch', 'other'],
    [null, 'other'],
    [7, 'other'],
    [JSON.parse('{"__proto__":{"event_type":"touch"}}'), 'other'],
  ])('classifies %j as %s with a walk through exactly that category', (value, category) => {
    const route = map.classify(value);
    expect(route.category).toBe(category);
    expect(route.path).toEqual(received(category));
    expect(JSON.parse(route.pathJson)).toEqual(route.path);
  });

  it('routes malformed frames to the error node', () => {
    expect(map.errorRoute).toEqual({
      category: null,
      path: ['client', 'ingest', 'parse', 'error'],
      pathJson: '["client","ingest","parse","error"]',
      index: 0,
    });
  });

  it('lists every route once, each at its own index', () => {
    expect(map.routes.map((r) => r.index)).toEqual(map.routes.map((_, i) => i));
    expect(map.routes[map.classify({ event_type: 'touch' }).index]).toBe(
      map.classify({ event_type: 'touch' }),
    );
  });

  it('loads a replacement map from a file', () => {
    const doc = defaultDoc();
    doc.nodes.find((n) => n.id === 'touch')!.label = 'Taps';
    const file = join(tmpdir(), `flow-map-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(doc));
    expect(FlowMap.load(file).document.nodes.find((n) => n.id === 'touch')?.label).toBe('Taps');
  });

  it('keeps labels free text: quotes and markup load and survive a JSON round trip', () => {
    const doc = defaultDoc();
    const label = 'Taps "and" <b>presses</b> \\ \u2028';
    doc.nodes.find((n) => n.id === 'touch')!.label = label;
    const map = FlowMap.parse(JSON.stringify(doc), 'labels.json');
    const served = JSON.parse(JSON.stringify(map.document)) as FlowMapDocument;
    expect(served.nodes.find((n) => n.id === 'touch')?.label).toBe(label);
  });

  const invalid: [string, (doc: FlowMapDocument) => unknown, RegExp][] = [
    [
      'an edge to an unknown node',
      (d) => d.edges.push({ from: 'stream', to: 'nowhere' }),
      /unknown node "nowhere"/,
    ],
    [
      'no default category',
      (d) => (d.nodes = d.nodes.map((n) => (n.id === 'other' ? { ...n, match: { field: 'x', in: [] } } : n))),
      /exactly one category with "match":\{"default":true\}, found 0/,
    ],
    [
      'a category from which ack cannot be reached',
      (d) => (d.edges = d.edges.filter((e) => !(e.from === 'motion' && e.to === 'stream'))),
      /"ack" cannot be reached from category "motion"/,
    ],
    ['no source', (d) => (d.nodes[0].kind = 'stage'), /exactly one node of kind "source", found 0/],
    ['a duplicate id', (d) => d.nodes.push({ ...d.nodes[1] }), /duplicate node id "ingest"/],
    ['a bad kind', (d) => ((d.nodes[1] as { kind: string }).kind = 'box'), /node "ingest" has kind "box"/],
    [
      'no error node',
      (d) => (d.nodes = d.nodes.filter((n) => n.id !== 'error')),
      /no node with id "error"|unknown node "error"/,
    ],
    [
      'an id with a double quote',
      (d) => d.nodes.push({ id: 'x"y', label: 'X', kind: 'stage' }),
      /node id "x\\"y" must match/,
    ],
    [
      'an id with a space',
      (d) => d.nodes.push({ id: 'a b', label: 'X', kind: 'stage' }),
      /node id "a b" must match/,
    ],
    [
      'an id of 65 characters',
      (d) => d.nodes.push({ id: 'a'.repeat(65), label: 'X', kind: 'stage' }),
      /must match \^\[A-Za-z0-9_-\]\{1,64\}\$/,
    ],
    ['a wrong version', (d) => ((d as { version: number }).version = 2), /"version" must be 1/],
    [
      'a bad match rule',
      (d) => (d.nodes[5].match = { field: 'event_type' } as never),
      /category "touch" needs "match"/,
    ],
  ];

  it.each(invalid)('rejects a map with %s, saying what is wrong', (_name, mutate, message) => {
    const doc = defaultDoc();
    mutate(doc);
    expect(() => FlowMap.parse(JSON.stringify(doc), 'test.json')).toThrow(FlowMapError);
    expect(() => FlowMap.parse(JSON.stringify(doc), 'test.json')).toThrow(message);
  });

  it('rejects a file that is not JSON', () => {
    expect(() => FlowMap.parse('{nodes: []', 'broken.json')).toThrow(
      /Invalid event flow map broken.json: not JSON/,
    );
  });

  it('rejects a missing file', () => {
    expect(() => FlowMap.load('/nonexistent/map.json')).toThrow(/\/nonexistent\/map.json: cannot be read/);
  });
});
