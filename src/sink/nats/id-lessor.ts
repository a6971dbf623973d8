// The id lessor on NATS (SINK=nats without Redis): id slots leased in the KV bucket
// `<NATS_STREAM>_id_slots` (slot-store.ts), over the shared connection. Its bucket is created at
// startup only when the id source takes it (with Redis, Redis leases the slots).
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { appConfig } from '../../config/app.config.js';
import type { IdLessor } from '../../stream/id-lessor.js';
import { NatsClient } from './connection.js';
import { slotBucket } from './provisioning.js';
import { natsSlotStore } from './slot-store.js';

@Injectable()
export class NatsIdLessor implements IdLessor, OnModuleInit {
  private taken = false;
  private store?: IdLessor;

  constructor(
    @Inject(appConfig.KEY) private readonly cfg: ConfigType<typeof appConfig>,
    private readonly client: NatsClient,
  ) {}

  /** For the id source, which leases through it from startup on. */
  forIdSource(): IdLessor {
    this.taken = true;
    return this;
  }

  /** Creates or opens the bucket once the id source took this lessor; refuses the start when it cannot. */
  async onModuleInit(): Promise<void> {
    if (!this.taken) return;
    try {
      const { nc } = await this.client.open();
      const kv = await slotBucket(nc, this.cfg);
      this.store = natsSlotStore(kv, (request) => this.client.guard(request));
    } catch (err) {
      await this.client.close();
      throw err;
    }
  }

  acquire(slot: number, token: string, ttlMs: number): Promise<boolean> {
    return this.live((store) => store.acquire(slot, token, ttlMs));
  }

  renew(slot: number, token: string, ttlMs: number): Promise<boolean> {
    return this.live((store) => store.renew(slot, token, ttlMs));
  }

  release(slot: number, token: string): Promise<void> {
    return this.live((store) => store.release(slot, token));
  }

  reachable(): boolean {
    return this.store !== undefined && !this.client.down;
  }

  /** Not before the bucket is open, nor while down: a request sent then waits in the reconnect buffer for its timeout. */
  private live<T>(request: (store: IdLessor) => Promise<T>): Promise<T> {
    const store = this.store;
    if (store === undefined || this.client.down) return Promise.reject(new Error('NATS unavailable'));
    return request(store);
  }
}
