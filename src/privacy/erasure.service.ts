// Erasure by subject: deletes every entry of a subject from the durable log (Redis Streams or NATS
// JetStream) and its stream states, then records a receipt where downstream consumers read it.
// The engines share their state through Redis or NATS, so any instance can erase what any other
// stored. Race rule: an entry of the subject whose append completes before the erasure's last step
// for its subject is erased; one that completes after is kept, whole and indexed, for a later
// erasure to take. No entry is ever half-deleted (the index and the log change together).
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import { PinoLogger } from 'nestjs-pino';
import { appConfig } from '../config/app.config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { NatsSink } from '../sink/nats/log.js';
import { MemoryStreamState } from '../stream/stream-state.js';
import { NatsErasure } from './nats-erasure.js';
import { type ErasureReceipt, RedisErasure } from './redis-erasure.js';
import { belongsTo } from './subject.js';

@Injectable()
export class ErasureService {
  private redisErasure?: RedisErasure;
  private natsErasure?: NatsErasure;
  private erasures = 0;
  private erased = 0;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly redis: RedisService,
    private readonly nats: NatsSink,
    private readonly memory: MemoryStreamState,
    private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    logger.setContext(ErasureService.name);
    metrics.counter(
      'cbsa_erasures_total',
      'Erasure requests completed (DELETE /admin/subjects/{sub}/events)',
      () => this.erasures,
    );
    metrics.counter(
      'cbsa_erased_entries_total',
      'Log entries deleted by erasure requests',
      () => this.erased,
    );
  }

  async erase(subject: string): Promise<ErasureReceipt> {
    let deleted = 0;
    if (this.cfg.sink === 'nats') {
      deleted = await this.natsEngine().erase(subject);
    } else if (this.redis.client !== undefined) {
      deleted = await this.redisEngine().erase(subject);
    }
    // Without Redis resumable streams keep their state in memory (several workers: each its own).
    this.memory.forget((stream) => belongsTo(stream, subject));
    const receipt: ErasureReceipt = {
      subject,
      deleted,
      receipt_id: randomUUID(),
      completed_at: new Date().toISOString(),
    };
    if (this.cfg.sink === 'nats') await this.natsEngine().record(receipt);
    else if (this.redis.client !== undefined) await this.redisEngine().record(receipt);
    this.erasures++;
    this.erased += deleted;
    // The receipt is the audit record; the subject is logged as the request named it.
    this.logger.info(
      { receipt_id: receipt.receipt_id, deleted },
      'Erasure by subject completed (%d entries)',
      deleted,
    );
    return receipt;
  }

  private redisEngine(): RedisErasure {
    return (this.redisErasure ??= new RedisErasure(this.redis.client!, (name) => this.redis.key(name)));
  }

  private natsEngine(): NatsErasure {
    if (this.natsErasure !== undefined) return this.natsErasure;
    const manager = this.nats.manager;
    if (manager === undefined) throw new Error('NATS is not connected');
    this.natsErasure = new NatsErasure(
      manager.nc,
      manager.jsm,
      this.cfg.natsStream,
      this.cfg.natsSubject,
      this.cfg.natsReplicas,
      (stream) => this.nats.forget(stream),
    );
    return this.natsErasure;
  }
}
