// cbsa_build_info: which version, Node and sink each instance runs, as the constant 1 (the usual
// Prometheus *_build_info pattern), so dashboards can show and join on it.
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Gauge } from 'prom-client';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from './metrics.service.js';

@Injectable()
export class BuildInfo {
  constructor(metrics: MetricsService, @Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>) {
    new Gauge({
      name: 'cbsa_build_info',
      help: 'Always 1; its labels say the version, the Node.js version and the sink (SINK) of this instance',
      labelNames: ['version', 'node', 'sink'],
      registers: [metrics.registry],
      // With workers the primary sums each series across them; this one stays 1.
      aggregator: 'first',
    }).set({ version: cfg.version, node: process.versions.node, sink: cfg.sink }, 1);
  }
}
