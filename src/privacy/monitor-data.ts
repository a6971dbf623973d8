// MONITOR_DATA=none for events that arrive encoded from other instances on the bus: their data,
// previews and policy marks are removed before any monitor or the replay sees them.
import type { RemoteBatch } from '../cluster/bus.service.js';
import { splitEvents } from '../monitor/selection.js';

/** Fields of a monitor event that carry (or describe) what the client sent. */
export const DATA_FIELDS = ['data', 'preview', 'policy', 'truncated', 'errors'] as const;

export function withoutData(batch: RemoteBatch): RemoteBatch {
  const events: string[] = [];
  for (const text of splitEvents(batch.events)) {
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      continue;
    }
    if (typeof event !== 'object' || event === null) continue;
    for (const field of DATA_FIELDS) delete (event as Record<string, unknown>)[field];
    events.push(JSON.stringify(event));
  }
  return { count: events.length, events: events.join(',') };
}
