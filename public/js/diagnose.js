// Why the monitor socket is not open, in one line a person can act on. Browsers hide the HTTP status
// of a refused WebSocket handshake, so the page asks with a plain GET of the same URL, which the
// server answers with the status the upgrade would get (426 when it would be let in).

/**
 * @typedef {'unauthorized' | 'forbidden' | 'full' | 'down' | 'unknown'} Refusal
 */

/**
 * Maps the probe's outcome to a refusal. `status` is the HTTP status of the GET, or null when the
 * request itself failed (nothing answered).
 * @param {number | null} status
 * @returns {Refusal}
 */
export function refusalOf(status) {
  if (status === null) return 'down';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 503) return 'full';
  if (status >= 500) return 'down';
  return 'unknown';
}

/** @type {Record<Refusal, string>} */
const LINES = {
  unauthorized: 'Token needed: this server asks monitors for MONITOR_TOKEN.',
  forbidden: "Refused by the origin check: add this page's origin to ALLOWED_ORIGINS.",
  full: 'Monitor cap reached (MAX_MONITORS), or the server is shutting down: retrying.',
  down: 'Server down or unreachable: retrying.',
  unknown: 'The monitor socket closed: retrying.',
};

/**
 * The one line the page shows for a refusal.
 * @param {Refusal} refusal
 * @returns {string}
 */
export function explain(refusal) {
  return LINES[refusal];
}
