// Every HTTP and WebSocket path the service serves. The two WebSocket paths are defaults that
// WEBSOCKET_ENDPOINT and MONITOR_ENDPOINT replace; the page reads the configured ones from CONFIG_PATH.
export const DEFAULT_INGEST_PATH = '/ws/behaviour';
export const DEFAULT_MONITOR_PATH = '/ws/monitor';

/** Controller routes, without the leading slash as Nest's decorators take them. */
export const ROUTES = {
  health: 'health',
  live: 'health/live',
  ready: 'health/ready',
  flowMap: 'event-flow-map',
  metrics: 'metrics',
  config: 'config.json',
  openApi: 'openapi.json',
} as const;

export const FLOW_MAP_PATH = `/${ROUTES.flowMap}`;
export const CONFIG_PATH = `/${ROUTES.config}`;

/** A path as served: under BASE_PATH (basePath), which is empty for the standalone service by default. */
export function mounted(cfg: { basePath: string }, path: string): string {
  return `${cfg.basePath}${path}`;
}
