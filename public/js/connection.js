// The monitor socket: same host as the page (ws: or wss: by the page's protocol), reconnects by
// itself with capped, jittered exponential backoff, and asks for a token when the server says so.

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

export function monitorUrl(path, token) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token) url.searchParams.set('token', token);
  return url.href;
}

export class MonitorSocket {
  /**
   * `onFrame(frame)` gets each parsed frame; `onState({ state, attempt, retryAt })` gets every state
   * change: connecting, connected, reconnecting, unauthorized. `onSkipped(n)` counts frames that
   * could not be read (not JSON, not an object): they are skipped, the others still arrive.
   */
  constructor(path, { onFrame, onState, onSkipped = () => {} }) {
    Object.assign(this, { path, onFrame, onState, onSkipped });
    this.ws = null;
    this.attempt = 0;
    this.timer = undefined;
    this.lastFrame = 0;
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
    const ws = new WebSocket(monitorUrl(this.path, this.token));
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
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return this.onSkipped(1);
      }
      if (frame !== null && typeof frame === 'object') this.onFrame(frame);
      else this.onSkipped(1);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (AUTH_CLOSE_CODES.has(e.code)) return this.unauthorized();
      if (!opened) this.probeAuth();
      this.schedule();
    };
  }

  /**
   * Browsers hide the HTTP status of a refused WebSocket handshake. After one, a plain GET of the
   * same URL tells a 401 apart from a server that is down or restarting.
   */
  probeAuth() {
    const url = new URL(this.path, location.href);
    if (this.token) url.searchParams.set('token', this.token);
    fetch(url, { cache: 'no-store' })
      .then((res) => {
        if (res.status === 401 && this.ws === null) this.unauthorized();
      })
      .catch(() => undefined);
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
