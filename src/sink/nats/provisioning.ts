// SINK=nats at startup: the stream is checked against what this service needs (stream-config.ts)
// or created, and the KV buckets are created or opened. Anything unusable refuses the start with
// what to change.
import type { ConfigType } from '@nestjs/config';
import { type JetStreamManager, StorageType } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { PinoLogger } from 'nestjs-pino';
import type { appConfig } from '../../config/app.config.js';
import { desiredStream, evidenceLimits, incompatibilities } from './stream-config.js';

type Config = ConfigType<typeof appConfig>;

/** The bucket of each resumable stream's last seq (`<NATS_STREAM>_streams`, see stream-state.ts). */
export function stateBucket(nc: NatsConnection, cfg: Config): Promise<KV> {
  return new Kvm(nc).create(`${cfg.natsStream}_streams`, {
    ttl: cfg.streamStateTtlS * 1000,
    replicas: cfg.natsReplicas,
    history: 1,
    storage: StorageType.File,
  });
}

/** The bucket of id slot leases (`<NATS_STREAM>_id_slots`, see id-lessor.ts). */
export function slotBucket(nc: NatsConnection, cfg: Config): Promise<KV> {
  // The bucket's TTL is the slot lease's: a record not renewed in time is gone.
  return new Kvm(nc).create(`${cfg.natsStream}_id_slots`, {
    ttl: cfg.idSlotTtlMs,
    replicas: cfg.natsReplicas,
    history: 1,
    storage: StorageType.File,
  });
}

/** Creates the stream, or checks that the existing one stores what this service needs. */
export async function ensureStream(jsm: JetStreamManager, cfg: Config, logger: PinoLogger): Promise<void> {
  const wanted = desiredStream(cfg);
  let existing;
  try {
    existing = await jsm.streams.info(cfg.natsStream);
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
  }
  if (existing === undefined) {
    try {
      await jsm.streams.add(wanted);
    } catch (err) {
      throw new Error(`NATS stream "${cfg.natsStream}" could not be created: ${(err as Error).message}`, {
        cause: err,
      });
    }
    logger.info({ stream: cfg.natsStream, subject: cfg.natsSubject }, 'NATS stream created');
    return;
  }
  const problems = incompatibilities(existing.config, cfg);
  if (problems.length > 0) {
    throw new Error(
      `NATS stream "${cfg.natsStream}" exists with settings this service cannot use: ${problems.join('; ')}. ` +
        'Change the NATS_* settings to match, or update or remove the stream (nats stream edit/rm).',
    );
  }
  const limits = evidenceLimits(existing.config, cfg);
  if (limits.length === 0) return;
  if (!cfg.natsAllowLimits) {
    throw new Error(
      `NATS stream "${cfg.natsStream}" has limits that can delete acked events before consumers read them: ` +
        `${limits.join('; ')}. Remove them (nats stream edit), or set NATS_ALLOW_LIMITS=1 to accept the loss.`,
    );
  }
  logger.warn(
    { stream: cfg.natsStream, limits },
    'NATS stream limits can delete acked events (NATS_ALLOW_LIMITS=1): %s',
    limits.join('; '),
  );
}
