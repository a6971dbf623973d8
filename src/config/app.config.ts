// The validated configuration as Nest provides it: read and checked once per app by loadConfig().
import { type DynamicModule } from '@nestjs/common';
import { ConfigModule, registerAs } from '@nestjs/config';
import { type AppConfig, parseEnv } from './env.js';

const NAMESPACE = 'app';

/**
 * The token and type of the config, injected as `@Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>`.
 * Its value is the one loadConfig() parsed; this factory itself is never loaded.
 */
export const appConfig = registerAs(NAMESPACE, (): AppConfig => {
  throw new Error('the app config is provided by loadConfig()');
});

export interface LoadedConfig {
  config: AppConfig;
  /** The global ConfigModule that provides `config` under appConfig.KEY. */
  module: DynamicModule;
}

/**
 * Reads `.env` (the real environment wins) and validates it against the schema, once. The primary
 * process needs the config before any app exists, and the HTTP server's limits are set before DI runs,
 * so the parsed value is handed back as well as provided.
 */
export async function loadConfig(): Promise<LoadedConfig> {
  let config: AppConfig | undefined;
  const module = await ConfigModule.forRoot({
    isGlobal: true,
    validate: (env) => {
      config = parseEnv(env as Record<string, string | undefined>);
      return env;
    },
    load: [registerAs(NAMESPACE, () => config!)],
  });
  return { config: config!, module };
}
