// The instances strip's model: which instances are live, from the `instances` list of each stats
// frame, and which disappeared recently (shown as gone for GONE_MS). Pure: no DOM.

export const GONE_MS = 15_000;

/**
 * @typedef {import('../../src/protocol/monitor-frames.js').InstanceSummary} InstanceSummary
 * @typedef {InstanceSummary & { gone: boolean, goneAt?: number }} InstanceRow
 */

export class Instances {
  constructor() {
    /** @type {Map<string, InstanceRow>} */
    this.rows = new Map();
  }

  /**
   * Applies one stats frame's `instances` at `now` (ms). Instances missing from the list are
   * marked gone; gone ones older than GONE_MS are forgotten.
   * @param {unknown} list
   * @param {number} now
   */
  update(list, now) {
    if (!Array.isArray(list)) return;
    const seen = new Set();
    for (const item of list) {
      if (item === null || typeof item !== 'object' || typeof item.id !== 'string') continue;
      seen.add(item.id);
      this.rows.set(item.id, {
        id: item.id,
        active_connections: Number(item.active_connections) || 0,
        total_messages: Number(item.total_messages) || 0,
        messages_per_second: Number(item.messages_per_second) || 0,
        gone: false,
      });
    }
    for (const [id, row] of this.rows) {
      if (seen.has(id)) continue;
      if (!row.gone) this.rows.set(id, { ...row, gone: true, goneAt: now });
      else if (now - (row.goneAt ?? now) > GONE_MS) this.rows.delete(id);
    }
  }

  /**
   * Rows sorted by id, live and recently gone.
   * @returns {InstanceRow[]}
   */
  list() {
    return [...this.rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
