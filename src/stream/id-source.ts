// Where message ids come from: a local counter in one process, or blocks leased from Redis with
// INCRBY when several instances must never hand out the same id.
import type { RedisService } from '../redis/redis.service.js';

export abstract class IdSource {
  /** The next id, or undefined when none can be handed out safely yet. */
  abstract next(): number | undefined;
}

export class LocalIdSource extends IdSource {
  private last = 0;

  next(): number {
    return ++this.last;
  }
}

/**
 * Leases blocks of ID_BLOCK_SIZE ids with INCRBY on `<prefix>message_id`, fetching the next block
 * when half of the current one is used, so a frame never waits on Redis. Ids are unique across
 * instances and increase on every connection. Before the first lease there is no safe id, so
 * none is given. If Redis stays away long enough to use up both blocks, ids continue past the
 * lease (still increasing) and the counter is moved past them when Redis returns.
 */
export class LeasedIdSource extends IdSource {
  private nextId = 1;
  private end = 0;
  private spare: { start: number; end: number } | undefined;
  private leasing = false;
  private overran = false;

  constructor(
    private readonly redis: RedisService,
    private readonly blockSize: number,
  ) {
    super();
    redis.ready$.subscribe(() => this.lease());
  }

  next(): number | undefined {
    if (this.nextId > this.end) {
      if (this.spare !== undefined) {
        this.nextId = this.spare.start;
        this.end = this.spare.end;
        this.spare = undefined;
      } else if (this.end === 0) {
        this.lease();
        return undefined;
      } else {
        this.end = this.nextId;
        this.overran = true;
      }
    }
    const id = this.nextId++;
    if (this.spare === undefined && this.end - this.nextId < this.blockSize / 2) this.lease();
    return id;
  }

  lease(): void {
    const client = this.redis.client;
    if (this.leasing || client === undefined || !this.redis.ready) return;
    this.leasing = true;
    const key = this.redis.key('message_id');
    const lastIssued = this.nextId - 1;
    const bump = this.overran ? client.eval(RAISE_TO, 1, key, String(lastIssued)) : Promise.resolve();
    bump
      .then(() => client.incrby(key, this.blockSize))
      .then((end) => {
        const block = { start: end - this.blockSize + 1, end };
        // Ids issued past the lease while this request was in flight: raise the counter again.
        if (block.start < this.nextId) return;
        this.overran = false;
        if (this.end === 0 || this.nextId > this.end) {
          this.nextId = block.start;
          this.end = block.end;
        } else {
          this.spare = block;
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.leasing = false;
      });
  }
}

/** Raises the counter to at least ARGV[1] (ids handed out during an outage). */
const RAISE_TO = `local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;
