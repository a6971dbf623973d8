// GET /openapi.json: the HTTP endpoints described with @nestjs/swagger (OpenAPI 3.1). Response
// schemas are written as JSON Schema beside each controller (see *.schemas.ts); the e2e test checks
// real responses against this document.
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '../config/env.js';
import { ROUTES } from '../protocol/index.js';

export function setupOpenApi(app: INestApplication, cfg: AppConfig): void {
  const options = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle(cfg.appName)
    .setVersion(cfg.version)
    .setDescription(
      `HTTP endpoints. The WebSocket contracts (ingest on ${cfg.websocketEndpoint}, monitor on ` +
        `${cfg.monitorEndpoint}) are described in docs/protocol.md and docs/asyncapi.yaml.`,
    )
    .build();
  const document = SwaggerModule.createDocument(app, options);
  SwaggerModule.setup(ROUTES.openApi, app, document, {
    ui: false,
    raw: ['json'],
    jsonDocumentUrl: ROUTES.openApi,
  });
}
