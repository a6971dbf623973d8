// GET /openapi.json: the HTTP endpoints described with @nestjs/swagger (OpenAPI 3.1), built once on
// first request from CBSA's own controllers only (never a host application's). Response schemas are
// written as JSON Schema beside each controller (see *.schemas.ts); the e2e test checks real
// responses against this document and lints it with Redocly's recommended rules.
import { Controller, Get, Inject, type Type } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { ApplicationConfig, HttpAdapterHost, ModulesContainer } from '@nestjs/core';
import { ApiExcludeController, DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

type PathItemObject = OpenAPIObject['paths'][string];
type OperationObject = NonNullable<PathItemObject['get']>;
import { appConfig } from '../config/app.config.js';
import { ROUTES, mounted } from '../protocol/index.js';

/** The modules whose controllers are documented; set by CbsaModule (a cycle otherwise). */
export const DOCUMENTED_MODULES: Type[] = [];

const HOST_REFUSED = { description: 'Misdirected Request: the Host header is not in ALLOWED_HOSTS' };

const TAGS = [
  { name: 'health', description: 'Status, liveness and readiness probes' },
  { name: 'flow map', description: 'The map events are classified onto' },
  { name: 'metrics', description: 'Prometheus metrics' },
  { name: 'monitor page', description: 'What the monitor page reads before it connects' },
  {
    name: 'websocket',
    description: 'A plain GET on a WebSocket path: whether an upgrade would be let in, or why not',
  },
];

/** A plain GET on a WebSocket path answers as the upgrade would be answered (see http/http-front.ts). */
function upgradeProbe(
  summary: string,
  operationId: string,
  security: OperationObject['security'],
  refusals: Record<string, string>,
): PathItemObject {
  return {
    get: {
      tags: ['websocket'],
      summary,
      operationId,
      security,
      responses: {
        default: {
          description:
            'As a WebSocket upgrade (Upgrade: websocket): 101 Switching Protocols, then the contract in docs/asyncapi.yaml',
        },
        '426': { description: 'Upgrade Required: a WebSocket upgrade with these headers would be let in' },
        ...Object.fromEntries(
          Object.entries(refusals).map(([status, description]) => [status, { description }]),
        ),
        '421': HOST_REFUSED,
        '503': { description: 'Service Unavailable: shutting down, or at the connection cap' },
      },
    },
  };
}

@ApiExcludeController()
@Controller()
export class OpenApiController {
  private document: OpenAPIObject | undefined;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly modules: ModulesContainer,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get(ROUTES.openApi)
  openApi(): OpenAPIObject {
    this.document ??= this.build();
    return this.document;
  }

  private build(): OpenAPIObject {
    const { cfg } = this;
    const builder = new DocumentBuilder()
      .setOpenAPIVersion('3.1.0')
      .setTitle(cfg.appName)
      .setVersion(cfg.version)
      .setDescription(
        `HTTP endpoints of CBSA. The WebSocket contracts (ingest on ${mounted(cfg, cfg.websocketEndpoint)}, ` +
          `monitor on ${mounted(cfg, cfg.monitorEndpoint)}) are described by the AsyncAPI document ` +
          '[docs/asyncapi.yaml](docs/asyncapi.yaml), shipped with the package (prose in docs/protocol.md).',
      )
      .addServer(cfg.basePath || '/', 'This service')
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'token',
          description: 'MONITOR_TOKEN (also accepted as ?token=)',
        },
        'monitorToken',
      )
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'token',
          description: 'One of INGEST_TOKENS (also accepted as ?token=)',
        },
        'ingestToken',
      );
    for (const tag of TAGS) builder.addTag(tag.name, tag.description);
    const config = builder.build();
    // package.json says UNLICENSED: no licence is granted (SPDX has no id for that, hence a LicenseRef).
    config.info.license = {
      name: 'UNLICENSED',
      identifier: 'LicenseRef-UNLICENSED',
    } as OpenAPIObject['info']['license'];
    // SwaggerModule scans an application; CBSA's part of it is handed over as one (its container
    // and HTTP adapter), so a host application's controllers never appear here.
    const app = {
      container: { getModules: () => this.modules, isGlobalModule: () => false },
      config: new ApplicationConfig(),
      getHttpAdapter: () => this.adapterHost.httpAdapter,
    };
    const doc = SwaggerModule.createDocument(app as never, config, {
      include: DOCUMENTED_MODULES,
      autoTagControllers: false,
    });
    // Documented paths are relative to the server, which carries the base path.
    const paths: OpenAPIObject['paths'] = {};
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const op of Object.values(item) as OperationObject[]) {
        op.security = [];
        op.responses['421'] = HOST_REFUSED;
      }
      paths[path.slice(cfg.basePath.length) || '/'] = item;
    }
    // With no token configured, a bearer token is not needed (and not checked).
    const security = (configured: boolean, scheme: string) =>
      configured ? [{ [scheme]: [] }] : [{}, { [scheme]: [] }];
    paths[cfg.websocketEndpoint] = upgradeProbe(
      'Ingest WebSocket: would an upgrade be let in',
      'probeIngestUpgrade',
      security(cfg.ingestTokens.length > 0, 'ingestToken'),
      {
        '400': 'Bad Request: an invalid stream id (?stream= or X-CBSA-Stream)',
        '401': 'Unauthorized: INGEST_TOKENS is set and no valid token was given',
        '429': 'Too Many Requests: MAX_CONNECTIONS_PER_IP reached for this address',
      },
    );
    paths[cfg.monitorEndpoint] = upgradeProbe(
      'Monitor WebSocket: would an upgrade be let in',
      'probeMonitorUpgrade',
      security(cfg.monitorToken !== undefined, 'monitorToken'),
      {
        '400': 'Bad Request: invalid filter or sample parameters (the body says which)',
        '401': 'Unauthorized: MONITOR_TOKEN is set and no valid token was given',
        '403': 'Forbidden: the Origin is neither this server nor in ALLOWED_ORIGINS',
      },
    );
    return { ...doc, paths };
  }
}
