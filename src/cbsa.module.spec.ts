import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { CbsaModule } from './cbsa.module.js';
import { appConfig } from './config/app.config.js';
import { ConfigError, parseEnv } from './config/env.js';
import { LifecycleService } from './lifecycle/lifecycle.service.js';
import { FramePipeline } from './ingest/frame-pipeline.js';
import { CbsaWsAdapter } from './ws/cbsa-ws.adapter.js';

/** A host's own settings provider, as forRootAsync would inject a ConfigService. */
const HOST_SETTINGS = 'HOST_SETTINGS';
@Module({
  providers: [{ provide: HOST_SETTINGS, useValue: { path: '/platform/cbsa', flush: '25' } }],
  exports: [HOST_SETTINGS],
})
class HostSettingsModule {}

describe(CbsaModule.name, () => {
  it('takes its settings from a factory with injected providers (forRootAsync)', async () => {
    const app = await NestFactory.create(
      CbsaModule.forRootAsync({
        imports: [HostSettingsModule],
        inject: [HOST_SETTINGS],
        useFactory: (host: { path: string; flush: string }) => ({
          basePath: host.path,
          monitorFlushMs: host.flush,
          logLevel: 'ERROR',
        }),
      }),
      { logger: false },
    );
    try {
      expect(app.get(appConfig.KEY)).toEqual({
        ...parseEnv({}),
        basePath: '/platform/cbsa',
        monitorFlushMs: 25,
        logLevel: 'error',
      });
    } finally {
      await app.close();
    }
  });

  it('refuses invalid settings from the factory with the environment messages', async () => {
    await expect(
      NestFactory.create(
        CbsaModule.forRootAsync({ useFactory: () => ({ basePath: 'cbsa/', maxConnections: 0 }) }),
        { logger: false, abortOnError: false },
      ),
    ).rejects.toEqual(
      new ConfigError([
        'Invalid BASE_PATH="cbsa/": expected a URL path such as /cbsa, without a trailing slash',
        'Invalid MAX_CONNECTIONS="0": expected an integer from 1 to 10000000',
      ]),
    );
  });

  it("names the one line a host forgot: CBSA's WebSocket adapter", async () => {
    const app = await NestFactory.create(CbsaModule.forRoot({ logLevel: 'ERROR' }), { logger: false });
    try {
      // A host's usual adapter instead of CbsaWsAdapter.
      app.useWebSocketAdapter(new WsAdapter(app));
      await expect(app.init()).rejects.toThrow(
        'CbsaModule serves its WebSockets through its own adapter: call app.useWebSocketAdapter(new CbsaWsAdapter(app)) before app.listen() (it serves your gateways too)',
      );
    } finally {
      await app.close();
    }
  });

  it("marks the shutdown before the sink drains, on any app.close() (a host's shutdown hooks)", async () => {
    const app = await NestFactory.create(CbsaModule.forRoot({ logLevel: 'ERROR' }), { logger: false });
    app.useWebSocketAdapter(new CbsaWsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const lifecycle = app.get(LifecycleService);
    const sink = app.get(FramePipeline);
    const shuttingDownAtDrain: boolean[] = [];
    const drain = sink.drain.bind(sink);
    sink.drain = (timeoutMs: number) => {
      shuttingDownAtDrain.push(lifecycle.shuttingDown);
      return drain(timeoutMs);
    };
    await app.close();
    expect(shuttingDownAtDrain).toEqual([true]);
  });

  it('refuses invalid settings in forRoot at once, before any app exists', () => {
    expect(() => CbsaModule.forRoot({ heartbeatIntervalMs: -1 })).toThrow(
      new ConfigError(['Invalid HEARTBEAT_INTERVAL_MS="-1": expected an integer from 0 to 3600000']),
    );
  });
});
