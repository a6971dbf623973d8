// The monitor socket: same host as the page (ws: or wss: by the page's protocol), reconnects by
// itself with capped, jittered exponential backoff, asks for a token when the server says so, and
// says in one line why a connection was refused.
import { refusalOf } from './diagnose.js';

/** @typedef {import('../../src/protocol/monitor-frames.js').MonitorFrame} MonitorFrame */

const TOKEN_KEY = 'cbsa.monitorToken';
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** The server sends stats every second; a silent socket this long is presumed dead. */
const STALE_MS = 6000;
/** Close codes that mean "not authorised": 4401 by convention, 1008 policy violation. */
const AUTH_CLOSE_CODES = new Set([4401, 1008]);

export const storedToken = () => {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
};

export function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be disabled; the token then lasts until the page is closed.
  }
}

export function monitorUrl(path, token, params = {}) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [key, value] of Object.entries(params)) if (value !== '') url.searchParams.set(key, value);
  if (token) url.searchParams.set('token', token);
  return url.href;
}

export class MonitorSocket {
  /**
   * `onFrame(frame)` gets each parsed frame; `onState({ state, attempt, retryAt, refusal })` gets
   * every state change: connecting, connected, reconnecting (with `refusal` once the server said
   * why, see diagnose.js), unauthorized. `onSkipped(n)` counts frames that could not be read (not
   * JSON, not an object): they are skipped, the others still arrive.
   * @param {string} path
   * @param {{ onFrame: (frame: MonitorFrame) => void, onState: (state: object) => void, onSkipped?: (n: number) => void }} handlers
   */
  constructor(path, { onFrame, onState, onSkipped = (/** @type {number} */ n) => void n }) {
    this.path = path;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onSkipped = onSkipped;
    this.ws = null;
    this.attempt = 0;
    this.timer = undefined;
    this.lastFrame = 0;
    this.retryAt = undefined;
    /** Query parameters for the socket besides the token (sample, filter). */
    this.params = {};
    this.token = storedToken();
    setInterval(() => this.checkStale(), 1000);
    addEventListener('online', () => this.retryNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.retryNow();
    });
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.onState({ state: this.attempt === 0 ? 'connecting' : 'reconnecting', attempt: this.attempt });
    let opened = false;
    const ws = new WebSocket(monitorUrl(this.path, this.token, this.params));
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.lastFrame = performance.now();
      this.onState({ state: 'connected', attempt: 0 });
    };
    ws.onmessage = (e) => {
      this.lastFrame = performance.now();
      if (typeof e.data !== 'string') return;
      /** @type {unknown} */
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return this.onSkipped(1);
      }
      // The server sends only MonitorFrames; the panels still check each field they show.
      if (frame !== null && typeof frame === 'object') this.onFrame(/** @type {MonitorFrame} */ (frame));
      else this.onSkipped(1);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (AUTH_CLOSE_CODES.has(e.code)) return this.unauthorized();
      this.schedule();
      if (!opened) this.probe();
    };
  }

  /**
   * Browsers hide the HTTP status of a refused WebSocket handshake. After one, a request for the
   * same URL tells a 401 (token), 403 (origin) and 503 (cap) apart from a server that is down.
   * It is a POST: browsers send Origin on a same-origin request only when it is not a GET or HEAD,
   * and without it the server could not tell the page that its origin is refused (behind a proxy
   * that rewrites Host, the upgrade's Origin no longer matches).
   */
  probe() {
    const url = new URL(this.path, location.href);
    if (this.token) url.searchParams.set('token', this.token);
    const attempt = this.attempt;
    fetch(url, { method: 'POST', cache: 'no-store' })
      .then((res) => res.status)
      .catch(() => null)
      .then((status) => {
        if (this.ws !== null || this.attempt !== attempt) return;
        const refusal = refusalOf(status);
        if (refusal === 'unauthorized') return this.unauthorized();
        this.onState({ state: 'reconnecting', attempt, retryAt: this.retryAt, refusal });
      });
  }

  /** Reconnects at once with other query parameters (sampling, server-side filter). */
  setParams(params) {
    this.params = params;
    const ws = this.ws;
    if (ws === null) return this.retryNow(true);
    this.ws = null;
    ws.onclose = null;
    ws.close();
    this.attempt = 0;
    this.connect();
  }

  unauthorized() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt = 0;
    this.onState({ state: 'unauthorized', attempt: 0 });
  }

  /** Called with the token a person typed; reconnects at once. */
  useToken(token) {
    this.token = token;
    storeToken(token);
    this.retryNow(true);
  }

  schedule() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    const retryAt = Date.now() + delay;
    this.retryAt = retryAt;
    this.timer = setTimeout(() => this.connect(), delay);
    this.onState({ state: 'reconnecting', attempt: this.attempt, retryAt });
  }

  /** Skips the remaining backoff; `force` also leaves the unauthorized state. */
  retryNow(force = false) {
    if (this.ws !== null) return;
    if (this.timer === undefined && !force) return;
    this.connect();
  }

  checkStale() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && performance.now() - this.lastFrame > STALE_MS) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close();
      this.schedule();
    }
  }
}
