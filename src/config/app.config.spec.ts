import { createApp } from '../app.setup.js';
import { appConfig, loadConfig } from './app.config.js';
import { ConfigError } from './env.js';

describe(loadConfig.name, () => {
  const saved = process.env;
  afterEach(() => {
    process.env = saved;
  });

  it('parses once: the app injects the very object loadConfig returned', async () => {
    process.env = { ...saved, LOG_LEVEL: 'ERROR', PORT: '8123', MONITOR_FLUSH_MS: '25' };
    const loaded = await loadConfig();
    expect(loaded.config).toMatchObject({ port: 8123, monitorFlushMs: 25, logLevel: 'error' });
    const app = await createApp(loaded);
    try {
      expect(app.get(appConfig.KEY)).toBe(loaded.config);
    } finally {
      await app.close();
    }
  });

  it('rejects with every problem when the environment is invalid', async () => {
    process.env = { ...saved, PORT: 'x', MONITOR_TOKEN: 'short' };
    await expect(loadConfig()).rejects.toEqual(
      new ConfigError([
        'Invalid PORT="x": expected an integer from 0 to 65535',
        'Invalid MONITOR_TOKEN=[redacted]: expected a token of at least 16 characters (ALLOW_WEAK_TOKENS=1 allows a shorter one for development)',
      ]),
    );
  });
});
