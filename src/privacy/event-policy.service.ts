// The configured field policy (EVENT_POLICY_FILE), read and checked once at startup, applied by
// StreamService to every event as it is classified: before the ack queue, the monitors and the bus
// see it, so all of them get the same transformed data. Without a policy it does nothing.
import { readFileSync } from 'node:fs';
import { Counter } from 'prom-client';
import type { StreamEvent } from '../stream/stream-event.js';
import { CompiledPolicy, POLICY_ACTIONS, validatePolicy } from './event-policy.js';

export class EventPolicyError extends Error {
  constructor(file: string, problems: string[]) {
    super(`EVENT_POLICY_FILE ${file} is invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EventPolicyError';
  }
}

/** Refuses a policy with any problem, naming them all. */
export function loadPolicy(file: string, hashKey: string | undefined): CompiledPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EventPolicyError(file, [`cannot be read as JSON (${(err as Error).message})`]);
  }
  const { policy, errors } = validatePolicy(doc, hashKey !== undefined);
  if (policy === undefined) throw new EventPolicyError(file, errors);
  return new CompiledPolicy(policy, hashKey);
}

export class EventPolicy {
  /** The policy's version (stored with every entry), or undefined without a policy. */
  readonly version: string | undefined;
  /** Events whose data could not be re-serialised after a rule applied (stored with data null). */
  private unserialisable = 0;
  /** The monitor marks per combination of rules that applied, encoded once. */
  private readonly marks = new Map<string, string>();

  constructor(
    readonly policy: CompiledPolicy | undefined,
    registry?: import('prom-client').Registry,
  ) {
    this.version = policy?.version;
    if (registry === undefined || policy === undefined) return;
    const read = () => ({ counts: policy.counts, unserialisable: this.unserialisable });
    new Counter({
      name: 'cbsa_policy_actions_total',
      help: 'Events each policy rule (by index in EVENT_POLICY_FILE) applied each action to',
      labelNames: ['rule', 'action'],
      registers: [registry],
      collect() {
        this.reset();
        const { counts, unserialisable } = read();
        counts.forEach((byAction, rule) => {
          for (const action of POLICY_ACTIONS) {
            if (byAction[action] > 0) this.inc({ rule: String(rule), action }, byAction[action]);
          }
        });
        if (unserialisable > 0) this.inc({ rule: 'any', action: 'nulled' }, unserialisable);
      },
    });
  }

  get enabled(): boolean {
    return this.policy !== undefined;
  }

  /**
   * Transforms a received event in place (text, value, monitor marks). The ack does not change: it
   * carries no data. Only events a rule applies to are re-serialised.
   */
  apply(event: StreamEvent): void {
    const policy = this.policy;
    if (policy === undefined) return;
    let result;
    try {
      result = policy.apply(event.value, event.route.category);
    } catch {
      // JSON.stringify overflows on data nested thousands deep: nothing of it is kept.
      this.unserialisable++;
      event.value = null;
      event.text = 'null';
      return;
    }
    if (result === undefined) return;
    event.value = result.value;
    event.text = result.text;
    const key = result.rules.join(',');
    let marks = this.marks.get(key);
    if (marks === undefined) {
      marks = JSON.stringify(policy.marks(result.rules));
      this.marks.set(key, marks);
    }
    event.policyMarks = marks;
  }
}
