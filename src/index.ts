// The package's public API, for host applications that embed CBSA (docs/embedding.md).
export { CbsaModule, type CbsaAsyncOptions } from './cbsa.module.js';
export { CbsaWsAdapter } from './ws/cbsa-ws.adapter.js';
export type { CbsaOptions, CbsaSettings } from './config/options.js';
export { ConfigError } from './config/env.js';
export type { AppConfig as CbsaConfig } from './config/env.js';
