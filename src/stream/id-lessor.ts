// The port through which the id source leases its slot of the id space (see SlotIdSource in
// id-source.ts). Each engine that shares a log between processes implements it: Redis in
// redis/redis-id-lessor.ts, NATS JetStream KV in sink/nats/id-lessor.ts.

export interface IdLessor {
  /** Takes `slot` for `token` for `ttlMs` unless someone holds it; true when taken. */
  acquire(slot: number, token: string, ttlMs: number): Promise<boolean>;
  /**
   * Extends `token`'s hold on `slot` by `ttlMs`, taking it again when its record is gone (Redis
   * restarted empty, FLUSHALL); false when another token holds it.
   */
  renew(slot: number, token: string, ttlMs: number): Promise<boolean>;
  /** Gives `slot` up, if `token` holds it. */
  release(slot: number, token: string): Promise<void>;
  /** false while the engine is known to be unreachable (its outage is reported elsewhere). */
  reachable?(): boolean;
}
