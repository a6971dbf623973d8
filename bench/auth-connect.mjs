// Scenario `auth-connect` (`npm run bench -- --scenario auth-connect`, also in the full run): the
// cost of connection setup in JWT mode (ES256 tokens verified with jose, one subject per device,
// ownership and the per-subject cap checked) beside static tokens (INGEST_TOKENS), on the same
// resumable upgrade: open `?stream=<device>:s` with `Authorization: Bearer`, read the resume frame,
// close. Three JWT rows: every connect with a token the server has not seen (its signature checked
// in a verifier thread, and with AUTH_VERIFY_THREADS=0 on the event loop), and devices reconnecting
// with the token they have (the server's verified-token cache). Figures
// per mode: connects per second and the server's CPU per connect; the goal is JWT mode at 0.7x or
// more of the static rate. Modes alternate, a fresh server each run; a ratio is the median of each
// rep's run over the static run of the same rep.
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import WebSocket from 'ws';
import { cpuSeconds, startServer } from './server.mjs';
import { QUICK, TARGETS } from './settings.mjs';

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

const DEVICES = 2000;
/** Devices of the reconnect row: each connects again and again with its one token. */
const RECONNECT_DEVICES = 500;
/** Fresh tokens for the first-connect row: more than it can use, so none is seen twice. */
const FRESH_TOKENS = QUICK ? 6000 : 20_000;
const CONCURRENCY = 32;
const WARMUP_S = QUICK ? 0.5 : 1;
const MEASURE_S = Number(option('auth-seconds') ?? (QUICK ? 2 : 5));
const REPS = Number(option('reps') ?? (QUICK ? 1 : 3));
const STATIC_TOKEN = 'bench-static-token-0001';
const ISSUER = 'https://auth.bench.local';
const AUDIENCE = 'cbsa-bench';

/** One device's connection cycle: upgrade, resume frame, close. Resolves true when it got its resume frame. */
function cycle(url, token) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    ws.once('message', () => {
      ws.close();
      resolve(true);
    });
    ws.once('unexpected-response', () => {
      ws.terminate();
      resolve(false);
    });
    ws.once('error', () => resolve(false));
  });
}

/** CONCURRENCY loops, each connecting as the next device; counts cycles in the measured window. */
async function drive(server, tokens, prime = false) {
  const base = `${server.url}/ws/behaviour`;
  const devices = tokens.length;
  let next = 0;
  let counting = false;
  let stopped = false;
  let done = 0;
  let failed = 0;
  const loops = Array.from({ length: CONCURRENCY }, async () => {
    while (!stopped) {
      const i = next++ % devices;
      const ok = await cycle(`${base}?stream=device-${i}:s`, tokens[i]);
      if (!counting) continue;
      if (ok) done++;
      else failed++;
    }
  });
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  // Reconnects: every token has connected once before the window opens.
  while (prime && next < devices) await new Promise((r) => setTimeout(r, 50));
  counting = true;
  const usedBefore = next;
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid) - cpu0;
  const counted = done;
  counting = false;
  stopped = true;
  await Promise.all(loops);
  server.assertAlive();
  return {
    connects_per_s: Math.round(counted / seconds),
    cpu_ms_per_connect: counted > 0 ? Number(((cpu * 1000) / counted).toFixed(3)) : null,
    failed,
    /** Connects in the window with a token seen before: 0 for an honest first-connect row, all of them for reconnects. */
    reused: prime ? next - usedBefore : Math.max(0, next - devices),
  };
}

export async function runAuthConnect() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const mint = (count) =>
    Promise.all(
      Array.from({ length: count }, (_, i) =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: 'bench-1' })
          .setSubject(`device-${i}`)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setIssuedAt(now)
          .setExpirationTime(now + 3600)
          .sign(privateKey),
      ),
    );
  const jwtEnv = {
    AUTH_JWT_PUBLIC_KEY: await exportSPKI(publicKey),
    AUTH_JWT_ISSUER: ISSUER,
    AUTH_JWT_AUDIENCE: AUDIENCE,
  };
  const modes = {
    static: {
      target: { ...TARGETS.service, label: 'service, static token', env: { INGEST_TOKENS: STATIC_TOKEN } },
      tokens: Array.from({ length: DEVICES }, () => STATIC_TOKEN),
    },
    jwt: {
      target: { ...TARGETS.service, label: 'service, JWT (ES256), new tokens', env: jwtEnv },
      tokens: await mint(FRESH_TOKENS),
    },
    'jwt-loop': {
      target: {
        ...TARGETS.service,
        label: 'service, JWT (ES256), new tokens, checked on the event loop',
        env: { ...jwtEnv, AUTH_VERIFY_THREADS: '0' },
      },
      tokens: await mint(FRESH_TOKENS),
    },
    'jwt-reconnect': {
      target: { ...TARGETS.service, label: 'service, JWT (ES256), reconnects', env: jwtEnv },
      tokens: await mint(RECONNECT_DEVICES),
      prime: true,
    },
  };
  const runs = [];
  for (let rep = 1; rep <= REPS; rep++) {
    for (const [mode, { target, tokens, prime }] of Object.entries(modes)) {
      const server = await startServer(target);
      try {
        const figures = await drive(server, tokens, prime);
        runs.push({ mode, rep, ...figures });
        console.error(
          `auth-connect ${mode} rep ${rep}: ${figures.connects_per_s} connects/s, ` +
            `${figures.cpu_ms_per_connect} ms CPU per connect, ${figures.failed} failed, ${figures.reused} reused`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  const median = (mode, key) => {
    const values = runs
      .filter((r) => r.mode === mode)
      .map((r) => r[key])
      .sort((a, b) => a - b);
    return values[Math.floor((values.length - 1) / 2)];
  };
  const summary = {};
  for (const mode of Object.keys(modes)) {
    summary[mode] = {
      connects_per_s: median(mode, 'connects_per_s'),
      cpu_ms_per_connect: median(mode, 'cpu_ms_per_connect'),
    };
  }
  // Each rep's run over the static run of the same rep, then the median: the machine's load drifts
  // between reps more than between the runs of one rep.
  const paired = (mode, key) => {
    const ratios = runs
      .filter((r) => r.mode === mode)
      .map((r) => r[key] / runs.find((s) => s.mode === 'static' && s.rep === r.rep)[key])
      .sort((a, b) => a - b);
    return Number(ratios[Math.floor((ratios.length - 1) / 2)].toFixed(2));
  };
  const over = (mode) => ({
    connects_per_s: paired(mode, 'connects_per_s'),
    cpu_per_connect: paired(mode, 'cpu_ms_per_connect'),
  });
  const first = over('jwt');
  const onLoop = over('jwt-loop');
  const again = over('jwt-reconnect');
  return {
    settings: { devices: DEVICES, concurrency: CONCURRENCY, measure_s: MEASURE_S, reps: REPS },
    summary,
    jwt_over_static: first,
    jwt_on_loop_over_static: onLoop,
    jwt_reconnect_over_static: again,
    goal: {
      connects_per_s_ratio: 0.7,
      met_first_connect: first.connects_per_s >= 0.7,
      met_reconnect: again.connects_per_s >= 0.7,
    },
    runs,
  };
}

export function authConnectMarkdown(result) {
  const {
    summary,
    jwt_over_static: r,
    jwt_on_loop_over_static: l,
    jwt_reconnect_over_static: q,
    goal,
    settings,
  } = result;
  const row = (label, mode, ratio) =>
    `| ${label} | ${summary[mode].connects_per_s}${ratio ? ` (${ratio.connects_per_s}×)` : ''} | ` +
    `${summary[mode].cpu_ms_per_connect} ms${ratio ? ` (${ratio.cpu_per_connect}×)` : ''} |`;
  return [
    `Connection setup, static token vs JWT (ES256), resumable upgrade + resume frame + close, ` +
      `${settings.concurrency} at a time, ${settings.measure_s} s × ${settings.reps} per mode, modes alternating ` +
      `(medians; a ratio is the median of each rep's run over the same rep's static run):`,
    '',
    '| Mode | Connects/s | Server CPU per connect |',
    '|---|---:|---:|',
    row('static token (INGEST_TOKENS)', 'static'),
    row('JWT, ES256, a new token each connect', 'jwt', r),
    row('JWT, ES256, a new token each connect, AUTH_VERIFY_THREADS=0', 'jwt-loop', l),
    row('JWT, ES256, reconnect with the same token', 'jwt-reconnect', q),
    '',
    `Goal: JWT at ≥ ${goal.connects_per_s_ratio}× the static rate: first connects ` +
      `${goal.met_first_connect ? 'met' : 'NOT met'}, reconnects ${goal.met_reconnect ? 'met' : 'NOT met'}.`,
  ].join('\n');
}
