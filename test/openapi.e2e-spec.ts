// GET /openapi.json documents every HTTP endpoint, the real responses match its schemas, and the
// document passes Redocly's recommended rules with no error and no warning.
import { Ajv } from 'ajv';
import type { OpenAPIObject } from '@nestjs/swagger';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type RunningApp, startApp } from './support/app.js';

const DOCUMENTED = [
  '/health',
  '/health/live',
  '/health/ready',
  '/event-flow-map',
  '/metrics',
  '/config.json',
];
/** A plain GET on a WebSocket path is documented too: it answers as the upgrade would be answered. */
const WS_PROBES = ['/ws/behaviour', '/custom/monitor'];

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: { ruleId: string; message: string }[];
}

/** Runs `redocly lint` (recommended rules) on a document written to a file, as a CI step would. */
async function redoclyLint(doc: unknown): Promise<LintReport> {
  const dir = await mkdtemp(join(tmpdir(), 'cbsa-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc, null, 2));
    const cli = join(process.cwd(), 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    const run = promisify(execFile)(
      process.execPath,
      [cli, 'lint', file, '--extends=recommended', '--format=json'],
      {
        cwd: dir,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
    );
    // Exits 1 when it finds errors; the report on stdout is what is checked either way.
    const { stdout } = await run.catch((err: { stdout: string }) => err);
    return JSON.parse(stdout) as LintReport;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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
    expect(doc.info).toEqual(
      expect.objectContaining({ title: 'CBSA Backend', version: running.config.version }),
    );
    expect(Object.keys(doc.paths).sort()).toEqual([...DOCUMENTED, ...WS_PROBES].sort());
  });

  it('passes `redocly lint` with the recommended rules: no error, no warning', async () => {
    const report = await redoclyLint(doc);
    expect({
      totals: report.totals,
      problems: report.problems.map((p) => `${p.ruleId}: ${p.message}`),
    }).toEqual({
      totals: expect.objectContaining({ errors: 0, warnings: 0 }) as unknown,
      problems: [],
    });
  }, 30_000);

  it('fails `redocly lint` on a document with a problem, so the check above can fail', async () => {
    const broken = { ...doc, servers: [] };
    const report = await redoclyLint(broken);
    expect(report.problems.map((p) => p.ruleId)).toEqual(['no-empty-servers']);
  }, 30_000);

  it('links the AsyncAPI document, and names the monitor token as a security scheme', () => {
    expect(doc.info.description).toContain('docs/asyncapi.yaml');
    expect(doc.components?.securitySchemes).toEqual({
      monitorToken: expect.objectContaining({ type: 'http', scheme: 'bearer' }) as unknown,
      ingestToken: expect.objectContaining({ type: 'http', scheme: 'bearer' }) as unknown,
    });
    expect(doc.paths['/custom/monitor'].get!.security).toEqual([{}, { monitorToken: [] }]);
  });

  it.each(WS_PROBES)('GET %s answers 426, as documented', async (path) => {
    const res = await fetch(`${running.http}${path}`);
    expect(res.status).toBe(426);
    expect(Object.keys(doc.paths[path].get!.responses)).toContain('426');
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
