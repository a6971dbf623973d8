import { registerAs } from '@nestjs/config';
import { parseEnv } from './env.js';

/** The validated configuration, injected as `@Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>`. */
export const appConfig = registerAs('app', () => parseEnv(process.env));
