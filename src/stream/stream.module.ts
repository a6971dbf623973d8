import { Module } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventPolicy, loadPolicy } from '../privacy/event-policy.service.js';
import { EventSchemas } from '../privacy/event-schemas.js';
import { RedisService } from '../redis/redis.service.js';
import { FlowMap } from './flow-map.js';
import { redisIdLessor } from '../redis/redis-id-lessor.js';
import { NatsIdLessor } from '../sink/nats/id-lessor.js';
import { NatsModule } from '../sink/nats/nats.module.js';
import { IdSource, LocalIdSource, SlotIdSource } from './id-source.js';
import { MemoryStreamState } from './stream-state.js';
import { StreamService } from './stream.service.js';

@Module({
  imports: [NatsModule],
  providers: [
    {
      provide: FlowMap,
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) => FlowMap.load(cfg.flowMapFile),
    },
    {
      provide: IdSource,
      inject: [appConfig.KEY, RedisService, NatsIdLessor],
      useFactory: (cfg: ConfigType<typeof appConfig>, redis: RedisService, nats: NatsIdLessor) => {
        const options = { ttlMs: cfg.idSlotTtlMs, burst: cfg.idBlockSize, slots: cfg.idSlots };
        if (redis.enabled) return new SlotIdSource(options, redisIdLessor(redis));
        // SINK=nats without Redis: several instances (and restarts) share one log, so ids come
        // from a slot leased in JetStream KV.
        return cfg.sink === 'nats' ? new SlotIdSource(options, nats.forIdSource()) : new LocalIdSource();
      },
    },
    {
      provide: EventPolicy,
      inject: [appConfig.KEY, MetricsService],
      useFactory: (cfg: ConfigType<typeof appConfig>, metrics: MetricsService) =>
        new EventPolicy(
          cfg.eventPolicyFile === undefined ? undefined : loadPolicy(cfg.eventPolicyFile, cfg.policyHashKey),
          metrics.registry,
        ),
    },
    {
      provide: EventSchemas,
      inject: [appConfig.KEY, FlowMap, MetricsService],
      useFactory: (cfg: ConfigType<typeof appConfig>, flowMap: FlowMap, metrics: MetricsService) => {
        if (cfg.eventSchemasDir === undefined) return new EventSchemas();
        const schemas = EventSchemas.load(
          cfg.eventSchemasDir,
          flowMap.document.nodes.filter((n) => n.kind === 'category').map((n) => n.id),
        );
        metrics.counter(
          'cbsa_quarantined_total',
          'Events stored in the quarantine log (failed their category schema; also counted as received)',
          () => schemas.quarantined,
        );
        return schemas;
      },
    },
    StreamService,
    {
      provide: MemoryStreamState,
      inject: [appConfig.KEY],
      useFactory: (cfg: ConfigType<typeof appConfig>) =>
        new MemoryStreamState(cfg.streamStateMax, cfg.streamStateTtlS * 1000, cfg.streamStateMaxBytes),
    },
  ],
  exports: [FlowMap, IdSource, StreamService, MemoryStreamState, EventPolicy, EventSchemas],
})
export class StreamModule {}
