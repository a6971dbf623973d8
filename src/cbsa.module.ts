// CBSA as one Nest module: the standalone service (main.ts) and a host application import the same
// wiring. CbsaModule.forRoot(options) / forRootAsync({ useFactory }) take the environment's settings
// in camelCase (config/options.ts); everything is served under `basePath` (see docs/embedding.md).
import {
  type DynamicModule,
  Inject,
  Injectable,
  type InjectionToken,
  Module,
  type ModuleMetadata,
  type OnModuleDestroy,
  type OptionalFactoryDependency,
  type Provider,
} from '@nestjs/common';
import { MODULE_PATH } from '@nestjs/common/constants.js';
import type { ConfigType } from '@nestjs/config';
import { ModulesContainer } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { CBSA_OPTIONS, appConfig } from './config/app.config.js';
import type { AppConfig } from './config/env.js';
import { type CbsaOptions, type ResolvedOptions, resolveOptions } from './config/options.js';
import { HealthModule } from './health/health.module.js';
import { DOCUMENTED_MODULES } from './http/openapi.js';
import { LifecycleService } from './lifecycle/lifecycle.service.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MonitorModule } from './monitor/monitor.module.js';

export interface CbsaAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => CbsaOptions | Promise<CbsaOptions>;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
}

/** Holds the resolved options and config for every CBSA module; global so they need no re-import. */
@Module({})
class CbsaConfigModule {}

/**
 * Mounts CBSA's controllers under basePath, as RouterModule would but from the runtime config
 * (forRootAsync knows it only once the factory ran). Runs while the app is created, before routes.
 */
@Injectable()
class CbsaRoutes {
  constructor(modules: ModulesContainer, @Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>) {
    if (cfg.basePath === '') return;
    for (const module of DOCUMENTED_MODULES) {
      Reflect.defineMetadata(MODULE_PATH + modules.applicationId, cfg.basePath, module);
    }
  }
}

/**
 * Any app.close() is a shutdown, a host application's too (enableShutdownHooks): upgrades are
 * refused and /health says shutting_down before the sink drains and the sockets get their 1001.
 * Nest runs onModuleDestroy from the root module down, so this one runs before the feature modules'.
 */
@Injectable()
class CbsaShutdown implements OnModuleDestroy {
  constructor(private readonly lifecycle: LifecycleService) {}

  onModuleDestroy(): void {
    this.lifecycle.beginShutdown();
  }
}

@Module({})
export class CbsaModule {
  /** CBSA with its settings given in code; invalid ones throw a ConfigError naming every problem. */
  static forRoot(options: CbsaOptions = {}): DynamicModule {
    const resolved = resolveOptions(options);
    return CbsaModule.with([{ provide: CBSA_OPTIONS, useValue: resolved }]);
  }

  /** CBSA with its settings from a factory (for example from the host's ConfigService). */
  static forRootAsync(options: CbsaAsyncOptions): DynamicModule {
    const useFactory = options.useFactory as (...args: unknown[]) => CbsaOptions | Promise<CbsaOptions>;
    return CbsaModule.with(
      [
        {
          provide: CBSA_OPTIONS,
          useFactory: async (...args: unknown[]) => resolveOptions(await useFactory(...args)),
          inject: options.inject ?? [],
        },
      ],
      options.imports,
    );
  }

  /** The standalone service: a config already parsed from the environment, logging with pino, owning the server. */
  static standalone(config: AppConfig): DynamicModule {
    const resolved: ResolvedOptions = { config, logger: 'pino', ownsServer: true };
    return CbsaModule.with([{ provide: CBSA_OPTIONS, useValue: resolved }]);
  }

  private static with(options: Provider[], imports: ModuleMetadata['imports'] = []): DynamicModule {
    const config: DynamicModule = {
      module: CbsaConfigModule,
      global: true,
      imports,
      providers: [
        ...options,
        { provide: appConfig.KEY, useFactory: (o: ResolvedOptions) => o.config, inject: [CBSA_OPTIONS] },
      ],
      exports: [CBSA_OPTIONS, appConfig.KEY],
    };
    return {
      module: CbsaModule,
      imports: [config, AppModule],
      providers: [CbsaRoutes, CbsaShutdown],
    };
  }
}

DOCUMENTED_MODULES.push(HealthModule, MetricsModule, MonitorModule, AppModule);
