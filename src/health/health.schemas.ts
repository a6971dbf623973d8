// JSON Schemas of the health and flow-map responses, for the OpenAPI document (GET /openapi.json).
import type { SchemaObject } from '@nestjs/swagger';

const count = { type: 'integer', minimum: 0 } as const;

const streamStats = {
  active_connections: count,
  active_monitors: count,
  total_messages: count,
  total_errors: count,
  total_duplicates: { ...count, description: 'Frames answered duplicate (resumable streams)' },
  total_gaps: { ...count, description: 'Events reported skipped by resumable streams' },
  resumes: { ...count, description: 'Resumable connections that picked up a known stream (last_seq > 0)' },
};

export const HEALTH_REPORT: SchemaObject = {
  type: 'object',
  required: [
    'status',
    ...Object.keys(streamStats),
    'uptime_seconds',
    'started_at',
    'version',
    'auth_refused',
  ],
  properties: {
    status: { type: 'string', enum: ['ok', 'shutting_down'] },
    ...streamStats,
    uptime_seconds: count,
    started_at: {
      type: 'string',
      format: 'date-time',
      description:
        'When this instance started: a new value means the service restarted (its counts began again)',
    },
    version: { type: 'string' },
    auth_refused: {
      ...count,
      description: "This instance's refused ingest upgrades and token refreshes (cbsa_auth_refused_total)",
    },
    instances: { ...count, description: 'With Redis: live instances' },
    bus: {
      type: 'string',
      enum: ['up', 'down'],
      description: 'With Redis: whether the bus (cross-instance fan-out, cluster counts) is connected',
    },
    instance: {
      type: 'object',
      description: "With Redis: this instance's own counts (the top-level counts are the cluster's)",
      required: ['id', ...Object.keys(streamStats), 'messages_per_second'],
      properties: { id: { type: 'string' }, ...streamStats, messages_per_second: count },
    },
  },
};

const indicators: SchemaObject = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
  },
};

/** @nestjs/terminus's health check result. */
export const HEALTH_CHECK: SchemaObject = {
  type: 'object',
  required: ['status', 'details'],
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: indicators,
    error: indicators,
    details: indicators,
  },
};

export const FLOW_MAP: SchemaObject = {
  type: 'object',
  required: ['version', 'nodes', 'edges'],
  properties: {
    version: { type: 'integer', enum: [1] },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'label', 'kind'],
        properties: {
          id: { type: 'string' },
          label: { type: 'string' },
          kind: { type: 'string', enum: ['source', 'stage', 'category', 'sink'] },
          match: {
            oneOf: [
              {
                type: 'object',
                required: ['field', 'in'],
                properties: {
                  field: { type: 'string' },
                  fallback: { type: 'string' },
                  in: { type: 'array', items: { type: 'string' } },
                },
              },
              {
                type: 'object',
                required: ['default'],
                properties: { default: { type: 'boolean', enum: [true] } },
              },
            ],
          },
        },
      },
    },
    edges: {
      type: 'array',
      items: {
        type: 'object',
        required: ['from', 'to'],
        properties: { from: { type: 'string' }, to: { type: 'string' } },
      },
    },
  },
};
