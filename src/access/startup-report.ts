// The startup lines: the ingest cap, and a warning when the monitor is open to the network,
// judged on the address really bound (a host application listens where it likes).
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PinoLogger } from 'nestjs-pino';
import { CBSA_OPTIONS, appConfig } from '../config/app.config.js';
import type { ResolvedOptions } from '../config/options.js';
import { mounted } from '../protocol/index.js';
import { ConnectionSlots } from './connection-slots.js';
import { exposureWarning } from './host-check.js';

@Injectable()
export class StartupReport implements OnApplicationBootstrap {
  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    @Inject(CBSA_OPTIONS) private readonly options: ResolvedOptions,
    private readonly slots: ConnectionSlots,
    private readonly adapterHost: HttpAdapterHost,
    private readonly log: PinoLogger,
  ) {}

  onApplicationBootstrap(): void {
    const { level, message } = this.slots.cap;
    this.log[level === 'warn' ? 'warn' : 'info']({ context: 'OpenFiles' }, message);
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    const warn = () => {
      const address = server.address() as AddressInfo | null;
      if (address === null || typeof address !== 'object') return;
      const subject = this.options.ownsServer
        ? `HOST=${this.cfg.host}`
        : `The application's server, listening on ${address.address}:${address.port},`;
      const monitorEndpoint = mounted(this.cfg, this.cfg.monitorEndpoint);
      const exposed = exposureWarning({ ...this.cfg, host: address.address, monitorEndpoint }, subject);
      if (exposed !== undefined) this.log.warn({ context: 'Security' }, exposed);
    };
    if (server.listening) warn();
    else server.once('listening', warn);
  }
}
