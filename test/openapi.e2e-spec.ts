// GET /openapi.json documents every HTTP endpoint, and the real responses match its schemas.
import { Ajv } from 'ajv';
import type { OpenAPIObject } from '@nestjs/swagger';
import { type RunningApp, startApp } from './support/app.js';

const DOCUMENTED = ['/health', '/health/live', '/health/ready', '/event-flow-map', '/metrics', '/config.json'];

describe('OpenAPI document (e2e)', () => {
  let running: RunningApp;
  let doc: OpenAPIObject;

  beforeAll(async () => {
    running = await startApp({ MONITOR_ENDPOINT: '/custom/monitor' });
    const res = await fetch(`${running.http}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as OpenAPIObject;
  });
  afterAll(() => running.close());

  it('is an OpenAPI 3.1 document naming every HTTP endpoint', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual(expect.objectContaining({ title: 'CBSA Backend', version: running.config.version }));
    expect(Object.keys(doc.paths).sort()).toEqual([...DOCUMENTED].sort());
  });

  it.each(DOCUMENTED)('GET %s answers as its documented 200 response says', async (path) => {
    const documented = doc.paths[path].get!.responses['200'] as {
      content: Record<string, { schema: object }>;
    };
    const [mediaType, { schema }] = Object.entries(documented.content)[0];
    const res = await fetch(`${running.http}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')!.split(';')[0]).toBe(mediaType);
    const body: unknown = mediaType === 'application/json' ? await res.json() : await res.text();
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    expect({ valid: validate(body), errors: validate.errors ?? null }).toEqual({ valid: true, errors: null });
  });

  it('tells the monitor page the configured monitor path', async () => {
    expect(await (await fetch(`${running.http}/config.json`)).json()).toEqual({
      ingest_endpoint: '/ws/behaviour',
      monitor_endpoint: '/custom/monitor',
      flow_map: '/event-flow-map',
    });
  });

  it('sends no X-Powered-By header, on API routes, the page, or the document', async () => {
    for (const path of ['/health', '/', '/openapi.json', '/nope']) {
      const res = await fetch(`${running.http}${path}`);
      expect({ path, poweredBy: res.headers.get('x-powered-by') }).toEqual({ path, poweredBy: null });
    }
  });

  it('fails a response that breaks the schema, so the check above can fail', () => {
    const documented = doc.paths['/health'].get!.responses['200'] as {
      content: Record<string, { schema: object }>;
    };
    const validate = new Ajv({ strict: false }).compile(documented.content['application/json'].schema);
    expect(validate({ status: 'ok', active_connections: -1 })).toBe(false);
  });
});
