// The one line a host application adds: `app.useWebSocketAdapter(new CbsaWsAdapter(app))`. Nest
// has one WebSocket adapter per application; this one serves CBSA's two endpoints with its own
// policy, limits and shutdown, and the host's own gateways on other paths exactly as Nest's
// WsAdapter (@nestjs/platform-ws) would.
import { Inject, Injectable, type INestApplicationContext, type OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { UpgradePolicy } from '../access/upgrade-policy.js';
import { appConfig } from '../config/app.config.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { FramePipeline } from '../ingest/frame-pipeline.js';
import { RawWsAdapter } from './raw-ws.adapter.js';

/** What the adapter needs from the module, and the check that the host installed it. */
@Injectable()
export class CbsaWsSupport implements OnModuleInit {
  attached = false;

  constructor(
    @Inject(appConfig.KEY) readonly cfg: ConfigType<typeof appConfig>,
    readonly policy: UpgradePolicy,
    readonly pipeline: FramePipeline,
    readonly lifecycle: LifecycleService,
    readonly log: PinoLogger,
  ) {
    log.setContext(RawWsAdapter.name);
  }

  /** Gateways are bound before any onModuleInit: by now the adapter has been asked for both. */
  onModuleInit(): void {
    if (!this.attached) {
      throw new Error(
        'CbsaModule serves its WebSockets through its own adapter: call ' +
          'app.useWebSocketAdapter(new CbsaWsAdapter(app)) before app.listen() (it serves your gateways too)',
      );
    }
  }
}

export class CbsaWsAdapter extends RawWsAdapter {
  constructor(app: INestApplicationContext) {
    const support = app.get(CbsaWsSupport, { strict: false });
    super(
      app,
      support.cfg,
      support.policy,
      support.log,
      (ws) => support.pipeline.whenSocketSettled(ws),
      () => support.lifecycle.shutdownStartedAt,
    );
    support.attached = true;
  }
}
