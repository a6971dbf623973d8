// One stream per client: two tabs, or two clients on one storage, never write the same stream. A
// client holds a lock on its stream for as long as it runs (Web Locks, shared by every tab of an
// origin; within one process otherwise), and takes the first stream of its storage that nobody
// holds: the one it had before, or one a closed tab left with events still queued, which it then
// finishes under that stream's own id. Only when every stored stream is held does it start a new one.

interface LockManager {
  request(
    name: string,
    options: { ifAvailable: boolean },
    callback: (lock: unknown) => Promise<void> | void,
  ): Promise<unknown>;
}

const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
/** Without Web Locks (React Native, older Node): streams held by clients of this process. */
const held = new Set<string>();

/** Takes the lock on `stream` of the storage named `scope` if it is free; returns what releases it. */
export async function tryLock(scope: string, stream: string): Promise<(() => void) | undefined> {
  const name = `cbsa/${scope}/${stream}`;
  if (!locks) {
    if (held.has(name)) return undefined;
    held.add(name);
    return () => held.delete(name);
  }
  return new Promise((resolve, reject) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) return resolve(undefined);
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(reject);
  });
}

/** A new id for this client's stream: `base` with a random suffix (`:` keeps it within a JWT subject's streams). */
export function suffixed(base: string): string {
  return `${base.slice(0, 192)}:${randomId(7)}`;
}

export function randomId(length: number): string {
  let id = '';
  while (id.length < length) id += Math.random().toString(36).slice(2);
  return id.slice(0, length);
}

/**
 * Claims the first free stream among `base` and the stored ones (only those derived from `base`
 * when the app chose it; those with queued events first), or a new one.
 */
export async function claimStream(
  scope: string,
  base: string,
  given: boolean,
  stored: Map<string, number>,
): Promise<{ stream: string; release: () => void }> {
  const candidates = [...stored.keys()]
    .filter((stream) => stream !== base && (!given || stream.startsWith(`${base}:`)))
    .sort((one, other) => stored.get(other)! - stored.get(one)!);
  for (const stream of [base, ...candidates]) {
    const release = await tryLock(scope, stream);
    if (release) return { stream, release };
  }
  for (;;) {
    const stream = suffixed(base);
    const release = await tryLock(scope, stream);
    if (release) return { stream, release };
  }
}
