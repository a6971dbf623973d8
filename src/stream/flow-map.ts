// The event flow map: how an event traverses the service. Loaded and validated once at startup;
// every route (the path an event takes) is precomputed so classification is a lookup per frame.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type NodeKind = 'source' | 'stage' | 'category' | 'sink';

export type MatchRule = { field: string; fallback?: string; in: string[] } | { default: true };

export interface FlowNode {
  id: string;
  label: string;
  kind: NodeKind;
  match?: MatchRule;
}

export interface FlowEdge {
  from: string;
  to: string;
}

export interface FlowMapDocument {
  version: 1;
  nodes: FlowNode[];
  edges: FlowEdge[];
}

/** Where an event ends up: its category (null for malformed frames) and its walk on the map. */
export interface Route {
  category: string | null;
  path: readonly string[];
  /** `path` as JSON text, spliced into monitor frames without stringifying per event. */
  pathJson: string;
  /** Position in FlowMap.routes: the per-route counter StreamService increments per event. */
  index: number;
}

export const ACK_NODE = 'ack';
export const ERROR_NODE = 'error';
export const DEFAULT_FLOW_MAP_FILE = join(import.meta.dirname, 'default-flow-map.json');

const KINDS: readonly NodeKind[] = ['source', 'stage', 'category', 'sink'];

export class FlowMapError extends Error {
  constructor(source: string, problem: string) {
    super(`Invalid event flow map ${source}: ${problem}`);
    this.name = 'FlowMapError';
  }
}

/** Categories matching on the same field(s), merged into one lookup by lower-cased value. */
interface Lookup {
  field: string;
  fallback: string | undefined;
  routes: Map<string, Route>;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function ownString(obj: Record<string, unknown>, key: string): string | undefined {
  if (!Object.hasOwn(obj, key)) return undefined;
  const value = obj[key];
  return typeof value === 'string' ? value : undefined;
}

export class FlowMap {
  readonly errorRoute: Route;
  /** Every route an event can take (the error route first), indexed by Route.index. */
  readonly routes: Route[] = [];
  private readonly lookups: Lookup[] = [];
  private readonly defaultRoute: Route;

  private constructor(
    readonly document: FlowMapDocument,
    source: string,
  ) {
    const fail = (problem: string): never => {
      throw new FlowMapError(source, problem);
    };
    const nodes = new Map(document.nodes.map((n) => [n.id, n]));
    const next = new Map<string, string[]>(document.nodes.map((n) => [n.id, []]));
    for (const { from, to } of document.edges) next.get(from)!.push(to);

    const sources = document.nodes.filter((n) => n.kind === 'source');
    if (sources.length !== 1) fail(`expected exactly one node of kind "source", found ${sources.length}`);
    for (const id of [ACK_NODE, ERROR_NODE]) if (!nodes.has(id)) fail(`no node with id "${id}"`);
    const categories = document.nodes.filter((n) => n.kind === 'category');
    const defaults = categories.filter((n) => n.match && 'default' in n.match);
    if (defaults.length !== 1) {
      fail(`expected exactly one category with "match":{"default":true}, found ${defaults.length}`);
    }
    const isCategory = (id: string) => nodes.get(id)!.kind === 'category';

    // Shortest walk from `start` to `goal` that enters no category node other than the endpoints,
    // so a received event passes exactly one category and a malformed one passes none.
    const walk = (start: string, goal: string): string[] | undefined => {
      const prev = new Map<string, string>([[start, start]]);
      const queue = [start];
      while (queue.length > 0) {
        const id = queue.shift()!;
        if (id === goal) {
          const path = [goal];
          while (path[0] !== start) path.unshift(prev.get(path[0])!);
          return path;
        }
        for (const to of next.get(id)!) {
          if (prev.has(to) || (to !== goal && isCategory(to))) continue;
          prev.set(to, id);
          queue.push(to);
        }
      }
      return undefined;
    };
    const route = (category: string | null, path: string[]): Route => {
      const made = { category, path, pathJson: JSON.stringify(path), index: this.routes.length };
      this.routes.push(made);
      return made;
    };

    const sourceId = sources[0].id;
    const errorPath =
      walk(sourceId, ERROR_NODE) ?? fail(`node "${ERROR_NODE}" cannot be reached from "${sourceId}"`);
    this.errorRoute = route(null, errorPath);

    const routes = new Map<string, Route>();
    for (const node of categories) {
      if (!node.match) fail(`category "${node.id}" has no "match" rule`);
      const head =
        walk(sourceId, node.id) ?? fail(`category "${node.id}" cannot be reached from "${sourceId}"`);
      const tail =
        walk(node.id, ACK_NODE) ?? fail(`"${ACK_NODE}" cannot be reached from category "${node.id}"`);
      routes.set(node.id, route(node.id, [...head, ...tail.slice(1)]));
    }
    this.defaultRoute = routes.get(defaults[0].id)!;
    // Consecutive categories on the same field share one lookup, so a frame is lower-cased and
    // looked up once per field rather than once per category; the first category in map order wins.
    for (const node of categories) {
      if (!node.match || !('in' in node.match)) continue;
      const { field, fallback } = node.match;
      let lookup = this.lookups.at(-1);
      if (lookup?.field !== field || lookup.fallback !== fallback) {
        lookup = { field, fallback, routes: new Map() };
        this.lookups.push(lookup);
      }
      for (const value of node.match.in) {
        const key = value.toLowerCase();
        if (!lookup.routes.has(key)) lookup.routes.set(key, routes.get(node.id)!);
      }
    }
  }

  /** Reads a map file (the bundled default when `file` is undefined); throws FlowMapError on any problem. */
  static load(file: string | undefined): FlowMap {
    const path = file ?? DEFAULT_FLOW_MAP_FILE;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new FlowMapError(path, `cannot be read (${(err as Error).message})`);
    }
    return FlowMap.parse(text, path);
  }

  static parse(text: string, source = '(inline)'): FlowMap {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new FlowMapError(source, `not JSON (${(err as Error).message})`);
    }
    return new FlowMap(validateShape(raw, source), source);
  }

  /** Picks the category route for a parsed client value; anything that is not an object is "other". */
  classify(value: unknown): Route {
    if (!isRecord(value)) return this.defaultRoute;
    for (const { field, fallback, routes } of this.lookups) {
      const text =
        ownString(value, field) ?? (fallback === undefined ? undefined : ownString(value, fallback));
      const route = text === undefined ? undefined : routes.get(text.toLowerCase());
      if (route !== undefined) return route;
    }
    return this.defaultRoute;
  }
}

/** Allowed node ids. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

function validateShape(raw: unknown, source: string): FlowMapDocument {
  const fail = (problem: string): never => {
    throw new FlowMapError(source, problem);
  };
  if (!isRecord(raw)) fail('the top level must be an object');
  const doc = raw as Record<string, unknown>;
  if (doc.version !== 1) fail('"version" must be 1');
  if (!Array.isArray(doc.nodes) || doc.nodes.length === 0) fail('"nodes" must be a non-empty array');
  if (!Array.isArray(doc.edges)) fail('"edges" must be an array');
  const ids = new Set<string>();
  const nodes = (doc.nodes as unknown[]).map((n, i): FlowNode => {
    if (!isRecord(n) || typeof n.id !== 'string' || n.id === '') fail(`nodes[${i}] needs a string "id"`);
    const node = n as Record<string, unknown>;
    const id = node.id as string;
    // Ids are spliced into monitor frames as they are (serializeEvent): only characters that need
    // no escaping in JSON, HTML or CSS selectors. Labels stay free text; they are only ever
    // serialised with JSON.stringify and shown with textContent.
    if (!NODE_ID.test(id)) fail(`node id ${JSON.stringify(id)} must match ${NODE_ID.source}`);
    if (ids.has(id)) fail(`duplicate node id "${id}"`);
    ids.add(id);
    if (typeof node.label !== 'string') fail(`node "${id}" needs a string "label"`);
    if (!KINDS.includes(node.kind as NodeKind))
      fail(`node "${id}" has kind ${JSON.stringify(node.kind)}; expected one of ${KINDS.join(', ')}`);
    const out: FlowNode = { id, label: node.label as string, kind: node.kind as NodeKind };
    if (node.match !== undefined) {
      if (node.kind !== 'category') fail(`node "${id}" has a "match" but is not a category`);
      out.match = validateMatch(node.match, id, fail);
    }
    return out;
  });
  const edges = (doc.edges as unknown[]).map((e, i): FlowEdge => {
    if (!isRecord(e) || typeof e.from !== 'string' || typeof e.to !== 'string') {
      fail(`edges[${i}] needs string "from" and "to"`);
    }
    const { from, to } = e as { from: string; to: string };
    for (const end of [from, to])
      if (!ids.has(end)) fail(`edge ${from} -> ${to} refers to unknown node "${end}"`);
    return { from, to };
  });
  return { version: 1, nodes, edges };
}

function validateMatch(match: unknown, id: string, fail: (problem: string) => never): MatchRule {
  if (isRecord(match) && match.default === true) return { default: true };
  if (
    !isRecord(match) ||
    typeof match.field !== 'string' ||
    (match.fallback !== undefined && typeof match.fallback !== 'string') ||
    !Array.isArray(match.in) ||
    !match.in.every((v) => typeof v === 'string')
  ) {
    return fail(
      `category "${id}" needs "match":{"field":string,"fallback"?:string,"in":[strings]} or {"default":true}`,
    );
  }
  return { field: match.field, fallback: match.fallback, in: match.in };
}
