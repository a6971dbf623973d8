// The validated configuration as Nest provides it: parsed once, from the environment (standalone,
// loadConfig) or from CbsaModule's options (config/options.ts), and injected under appConfig.KEY.
import { ConfigModule, registerAs } from '@nestjs/config';
import { type AppConfig, parseEnv } from './env.js';

/** Its own namespace, so a host application's `registerAs('app')` never collides with it. */
const NAMESPACE = 'cbsa';

/**
 * The token and type of the config, injected as `@Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>`.
 * Its value is the one parsed at boot; this factory itself is never loaded.
 */
export const appConfig = registerAs(NAMESPACE, (): AppConfig => {
  throw new Error('the CBSA config is provided by CbsaModule');
});

/** The resolved module options (config/options.ts): how CBSA logs and whether it owns the server. */
export const CBSA_OPTIONS = Symbol('CBSA_OPTIONS');

export interface LoadedConfig {
  config: AppConfig;
}

/**
 * The standalone service's configuration: reads `.env` (the real environment wins) and validates it
 * against the schema, once. This is the only place the environment is read.
 */
export async function loadConfig(): Promise<LoadedConfig> {
  let config: AppConfig | undefined;
  await ConfigModule.forRoot({
    validate: (env) => {
      config = parseEnv(env as Record<string, string | undefined>);
      return env;
    },
  });
  return { config: config! };
}
