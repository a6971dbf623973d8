// The JetStream stream the NATS sink writes to: the settings it creates it with, and the check that
// an existing stream can keep the sink's promises (file storage, our subject, limits retention, the
// configured replicas and duplicate window), and the limits that can delete acked events before
// consumers read them (refused unless NATS_ALLOW_LIMITS=1).
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { AppConfig } from '../../config/schema.js';

type NatsSettings = Pick<
  AppConfig,
  'natsStream' | 'natsSubject' | 'natsReplicas' | 'natsDuplicateWindowS' | 'natsMaxAgeS'
> &
  Partial<Pick<AppConfig, 'adminToken' | 'eventSchemasDir'>>;

/** Where quarantined events go (EVENT_SCHEMAS_DIR): NATS_SUBJECT's last token replaced, cbsa.quarantine. */
export function quarantineSubject(natsSubject: string): string {
  const dot = natsSubject.lastIndexOf('.');
  return dot < 0 ? `${natsSubject}.quarantine` : `${natsSubject.slice(0, dot)}.quarantine`;
}

/**
 * The stream's subjects: NATS_SUBJECT, and with erasure on (ADMIN_TOKEN) the per-subject subjects
 * below it, `<NATS_SUBJECT>.<tokens of the subject>`, which a filtered purge erases.
 */
export function streamSubjects(cfg: NatsSettings): string[] {
  const bases = [cfg.natsSubject];
  // Quarantined events share the stream, so Nats-Msg-Id deduplicates across both.
  if (cfg.eventSchemasDir !== undefined) bases.push(quarantineSubject(cfg.natsSubject));
  return cfg.adminToken === undefined ? bases : bases.flatMap((b) => [b, `${b}.>`]);
}

/** What the sink creates when the stream is missing. */
export function desiredStream(cfg: NatsSettings): Partial<StreamConfig> & { name: string } {
  return {
    name: cfg.natsStream,
    subjects: streamSubjects(cfg),
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: cfg.natsReplicas,
    duplicate_window: nanos(cfg.natsDuplicateWindowS * 1000),
    max_age: nanos(cfg.natsMaxAgeS * 1000),
  };
}

/** Whether NATS subject `pattern` (with `*` and `>` wildcards) matches the literal `subject`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split('.');
  const have = subject.split('.');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '>') return have.length > i;
    if (i >= have.length || (want[i] !== '*' && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}

/** The reasons an existing stream cannot be used as configured; empty when it can. */
export function incompatibilities(existing: StreamConfig, cfg: NatsSettings): string[] {
  const problems: string[] = [];
  const seconds = (ns: number | undefined) => Math.round((ns ?? 0) / 1e9);
  if (!(existing.subjects ?? []).some((pattern) => subjectMatches(pattern, cfg.natsSubject))) {
    problems.push(
      `its subjects ${JSON.stringify(existing.subjects ?? [])} do not include NATS_SUBJECT="${cfg.natsSubject}"`,
    );
  }
  // Erasure (per-subject subjects) and quarantine need their subjects in the stream too.
  for (const wanted of streamSubjects(cfg).slice(1)) {
    const sample = wanted.endsWith('.>') ? `${wanted.slice(0, -2)}._x` : wanted;
    if (!(existing.subjects ?? []).some((pattern) => subjectMatches(pattern, sample))) {
      problems.push(
        `its subjects ${JSON.stringify(existing.subjects ?? [])} do not include "${wanted}" (needed with ADMIN_TOKEN or EVENT_SCHEMAS_DIR)`,
      );
    }
  }
  if (existing.storage !== StorageType.File) {
    problems.push(`its storage is "${existing.storage}" (needs "file": memory storage is lost on restart)`);
  }
  if (existing.retention !== RetentionPolicy.Limits) {
    problems.push(
      `its retention is "${existing.retention}" (needs "limits": events must stay until NATS_MAX_AGE_S, whatever consumers do)`,
    );
  }
  if (existing.num_replicas !== cfg.natsReplicas) {
    problems.push(`it has ${existing.num_replicas} replica(s) (NATS_REPLICAS=${cfg.natsReplicas})`);
  }
  if (seconds(existing.duplicate_window) !== cfg.natsDuplicateWindowS) {
    problems.push(
      `its duplicate window is ${seconds(existing.duplicate_window)} s (NATS_DUPLICATE_WINDOW_S=${cfg.natsDuplicateWindowS})`,
    );
  }
  return problems;
}

/**
 * The stream's limits that can delete acked events before the documented retention (NATS_MAX_AGE_S;
 * 0: forever) is over, each naming its setting; empty when none can. A max_age equal to the
 * retention, or longer, or none at all is fine; so are limits that refuse new messages (discard new)
 * instead of deleting old ones: the publish fails and the frame is not acked.
 */
export function evidenceLimits(existing: StreamConfig, cfg: Pick<AppConfig, 'natsMaxAgeS'>): string[] {
  const limits: string[] = [];
  const set = (n: number | undefined) => n !== undefined && n > 0;
  const discardOld = existing.discard !== DiscardPolicy.New;
  if (set(existing.max_msgs_per_subject) && (discardOld || existing.discard_new_per_subject !== true)) {
    limits.push(
      `max_msgs_per_subject is ${existing.max_msgs_per_subject} (every event is on one subject: older ones are deleted)`,
    );
  }
  if (set(existing.max_msgs) && discardOld) {
    limits.push(`max_msgs is ${existing.max_msgs} with discard "old" (the oldest events are deleted)`);
  }
  if (set(existing.max_bytes) && discardOld) {
    limits.push(`max_bytes is ${existing.max_bytes} with discard "old" (the oldest events are deleted)`);
  }
  const maxAgeS = (existing.max_age ?? 0) / 1e9;
  if (maxAgeS > 0 && (cfg.natsMaxAgeS === 0 || maxAgeS < cfg.natsMaxAgeS)) {
    limits.push(
      `max_age is ${maxAgeS} s, shorter than the retention (NATS_MAX_AGE_S=${cfg.natsMaxAgeS}${cfg.natsMaxAgeS === 0 ? ': forever' : ''})`,
    );
  }
  return limits;
}
