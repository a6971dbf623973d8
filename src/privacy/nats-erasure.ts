// Erasure by subject on NATS JetStream. With ADMIN_TOKEN set, the sink publishes each entry of a
// subject on `<NATS_SUBJECT>.<tokens>` (privacy/subject.ts), so erasing S is two filtered purges,
// `<base>` and `<base>.>`, done by the server without reading the log. The subjects the purge
// touched name the streams whose resume state (KV) is deleted too. Receipts go to the stream
// `<NATS_STREAM>_ERASURES` (subject: NATS_SUBJECT's last token replaced by "erasures"), kept
// without a max age.
import { type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { quarantineSubject } from '../sink/nats/stream-config.js';
import { stateKey } from '../sink/nats/stream-state.js';
import type { ErasureReceipt } from './redis-erasure.js';
import { natsSubjectTokens } from './subject.js';

/** cbsa.events → cbsa.erasures; a one-token subject gets ".erasures" appended. */
export function erasuresSubject(natsSubject: string): string {
  const dot = natsSubject.lastIndexOf('.');
  return dot < 0 ? `${natsSubject}.erasures` : `${natsSubject.slice(0, dot)}.erasures`;
}

/** The stream id a per-subject NATS subject stands for (its tokens decoded and joined by ':'). */
export function streamOfSubject(base: string, subject: string): string {
  return subject
    .slice(base.length + 1)
    .split('.')
    .map((token) => Buffer.from(token.slice(1), 'base64url').toString())
    .join(':');
}

export class NatsErasure {
  private receiptsReady = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly natsSubject: string,
    private readonly replicas: number,
    /** Called per erased stream, so this process forgets its cached last seq. */
    private readonly forget: (stream: string) => void,
  ) {}

  async erase(subject: string): Promise<number> {
    const tokens = natsSubjectTokens(subject);
    const streams = new Set<string>([subject]);
    let deleted = 0;
    // The log's subjects and the quarantine's (empty unless EVENT_SCHEMAS_DIR is set).
    for (const root of [this.natsSubject, quarantineSubject(this.natsSubject)]) {
      const base = `${root}.${tokens}`;
      for (const filter of [base, `${base}.>`]) {
        const info = await this.jsm.streams.info(this.stream, { subjects_filter: filter });
        for (const s of Object.keys(info.state.subjects ?? {})) streams.add(streamOfSubject(root, s));
        deleted += (await this.jsm.streams.purge(this.stream, { filter })).purged;
      }
    }
    const kv = await new Kvm(this.nc).open(`${this.stream}_streams`);
    for (const s of streams) {
      await kv.purge(stateKey(s));
      this.forget(s);
    }
    return deleted;
  }

  async record(receipt: ErasureReceipt): Promise<void> {
    const js = this.jsm.jetstream();
    if (!this.receiptsReady) {
      const name = `${this.stream}_ERASURES`;
      const subjects = [erasuresSubject(this.natsSubject)];
      try {
        await this.jsm.streams.info(name);
      } catch {
        await this.jsm.streams.add({
          name,
          subjects,
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          num_replicas: this.replicas,
        });
      }
      this.receiptsReady = true;
    }
    await js.publish(erasuresSubject(this.natsSubject), JSON.stringify(receipt), {
      msgID: receipt.receipt_id,
    });
  }
}
