// npm run test:container: builds the Dockerfile with podman, runs the image and drains it as an
// orchestrator would. No registry serves images here, so the Node 24 base is made locally (once,
// then cached): Debian bookworm from debootstrap, the pinned Node 24 binary of the `node`
// devDependency, npm 11 laid out as in the official node image, and the machine's CA bundle.
// Without podman (or where containers cannot run) it says so in one line: a skip locally, a
// failure under CI=true.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { freePort } from '../harness/process.mjs';
import { sleep } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const ROOT = join(import.meta.dirname, '..');
/** crun refuses cgroups in hybrid mode here; runc with cgroupfs runs (build and run alike). */
const PODMAN = ['--runtime=runc', '--cgroup-manager=cgroupfs'];
/** The default ulimits exceed the machine's hard limits. Also the open-files limit CBSA caps itself to. */
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const IMAGE = 'localhost/cbsa:test';
const BUILD_STAGE = 'localhost/cbsa-build:test';
const CONTAINER = `cbsa-test-${process.pid}`;
const SHUTDOWN_TIMEOUT_MS = 5000;
/** An orchestrator's grace period: SHUTDOWN_TIMEOUT_MS plus 5 s, as docs/container.md advises. */
const STOP_GRACE_S = SHUTDOWN_TIMEOUT_MS / 1000 + 5;
/** Bump when the base image recipe below changes, so a cached base is rebuilt. */
const BASE_RECIPE = 1;
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

const log = (line) => console.log(`[test:container] ${line}`);
// stderr is kept for the error of a failing command: without systemd, podman logs an error about
// healthcheck timers on every run, stop and rm of a container that has a HEALTHCHECK.
const run = (cmd, args, options = {}) =>
  (execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options }) ?? '').trim();
const podman = (...args) => run('podman', [...PODMAN, ...args]);
const tryPodman = (...args) => spawnSync('podman', [...PODMAN, ...args], { encoding: 'utf8' });
const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`;

/** One line on why containers cannot be tested here; fails under CI=true, skips otherwise. */
function cannotRun(reason) {
  console.log(`test:container: cannot run containers on this machine (${reason})`);
  process.exit(process.env.CI ? 1 : 0);
}

function preflight() {
  const version = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) cannotRun('podman not found: apt-get install -y podman runc');
  if (spawnSync('runc', ['--version']).error) cannotRun('runc not found: apt-get install -y runc');
  const info = tryPodman('info', '--format', '{{.Host.OCIRuntime.Name}}');
  if (info.status !== 0) cannotRun(`podman info failed: ${info.stderr.trim().split('\n').pop()}`);
}

/** The local stand-in for node:24-bookworm-slim, built once per Node version, recipe and CA bundle. */
function baseImage() {
  const nodeBin = join(ROOT, 'node_modules', 'node', 'bin', 'node');
  const nodeVersion = run(nodeBin, ['--version']).replace(/^v/, '');
  const caFile = process.env.NODE_EXTRA_CA_CERTS;
  const hash = createHash('sha256').update(`recipe ${BASE_RECIPE}\n`);
  if (caFile) hash.update(readFileSync(caFile));
  const tag = `localhost/cbsa-node:${nodeVersion}-bookworm-${hash.digest('hex').slice(0, 12)}`;
  if (tryPodman('image', 'exists', tag).status === 0) {
    log(`base image ${tag} (cached)`);
    return tag;
  }
  if (spawnSync('debootstrap', ['--version']).error) {
    cannotRun('debootstrap not found: apt-get install -y debootstrap');
  }
  if (process.getuid() !== 0) cannotRun('the base image is made with debootstrap, which needs root');
  const work = mkdtempSync('/var/tmp/cbsa-base-');
  try {
    const rootfs = join(work, 'rootfs');
    log(`building base image ${tag}: debootstrap --variant=minbase bookworm`);
    const started = Date.now();
    run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, DEBIAN_MIRROR], { stdio: 'ignore' });
    log(`debootstrap took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    // Node and npm where the official image has them.
    copyFileSync(nodeBin, join(rootfs, 'usr/local/bin/node'));
    chmodSync(join(rootfs, 'usr/local/bin/node'), 0o755);
    const tarball = run('npm', ['pack', 'npm@11', '--silent', '--pack-destination', work]).split('\n').pop();
    const npmDir = join(rootfs, 'usr/local/lib/node_modules/npm');
    mkdirSync(npmDir, { recursive: true });
    run('tar', ['-xzf', join(work, tarball), '-C', npmDir, '--strip-components=1']);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
    const changes = ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["node"]'];
    // Registry traffic passes a TLS proxy here: npm ci inside the build must trust its CA.
    if (caFile) {
      const inImage = '/usr/local/share/ca-certificates/node-extra-ca.crt';
      mkdirSync(join(rootfs, '/usr/local/share/ca-certificates'), { recursive: true });
      copyFileSync(caFile, join(rootfs, inImage));
      changes.push(`ENV NODE_EXTRA_CA_CERTS=${inImage}`);
    }
    rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    run('tar', ['-C', rootfs, '-cf', join(work, 'rootfs.tar'), '.']);
    podman('import', ...changes.flatMap((c) => ['--change', c]), join(work, 'rootfs.tar'), tag);
    log(`base image ${tag}: ${mb(Number(podman('image', 'inspect', '--format', '{{.Size}}', tag)))}`);
    return tag;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function buildService(base) {
  const build = (...args) =>
    execFileSync(
      'podman',
      [
        ...PODMAN,
        'build',
        ...ULIMITS,
        '--format',
        'docker',
        '--build-arg',
        `NODE_IMAGE=${base}`,
        ...args,
        ROOT,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  log(`podman build --build-arg NODE_IMAGE=${base} -t ${IMAGE} .`);
  const started = Date.now();
  // The build stage gets a tag too, so the cleanup below keeps its cached npm ci layer.
  // Docker format: the OCI image format has no HEALTHCHECK.
  build('--target', 'build', '-t', BUILD_STAGE);
  build('-t', IMAGE);
  log(`build took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  // Each change of the sources or the lockfile leaves the layers of the previous build behind,
  // untagged. Remove those of this Dockerfile (its label), nothing else, until none is left.
  for (let round = 0; round < 20; round++) {
    const removed = podman(
      'image',
      'prune',
      '--force',
      '--filter',
      'label=org.opencontainers.image.title=cbsa',
    );
    if (removed === '') break;
  }
}

async function waitHealthy(base, name = CONTAINER) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    const state = podman('inspect', '--format', '{{.State.Status}}', name);
    if (state !== 'running' || Date.now() > deadline) {
      throw new Error(`the container never answered /health (state ${state}):\n${podman('logs', name)}`);
    }
    await sleep(250);
  }
}

async function checkRunning(port) {
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(base);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

  const health = await (await fetch(`${base}/health`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.version, pkg.version);
  assert.equal((await fetch(`${base}/health/ready`)).status, 200);
  log('/health: ok, /health/ready: 200');

  // The monitor page and every file it loads: public/ and the uPlot of the production dependencies.
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<script type="module" src="js\/main\.js">/);
  for (const asset of ['js/main.js', 'monitor.css', 'favicon.svg', 'vendor/uplot/uPlot.min.css']) {
    const res = await fetch(`${base}/${asset}`);
    assert.equal(res.status, 200, `GET /${asset}`);
  }
  log('monitor page: / and its files served');

  // The seed contract: any JSON frame gets exactly one ack, ids from 1 in a fresh service; the
  // monitor socket sees the event.
  const monitor = await WsClient.open(`ws://127.0.0.1:${port}/ws/monitor`);
  assert.equal(JSON.parse(await monitor.next()).type, 'hello');
  const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
  client.socket.send('{"user_id":"user123","session_id":"session_abc","event_type":"tap"}');
  const ack = JSON.parse(await client.next());
  assert.deepEqual(Object.keys(ack), ['status', 'server_timestamp', 'message_id']);
  assert.equal(ack.status, 'received');
  assert.equal(ack.message_id, 1);
  assert.match(String(ack.server_timestamp), /^\d{10}(\.\d{1,3})?$/);
  client.socket.send('{"broken"');
  assert.deepEqual(JSON.parse(await client.next()), { status: 'error', message: 'Malformed JSON' });
  for (;;) {
    const frame = JSON.parse(await monitor.next());
    if (frame.type !== 'events') continue;
    assert.equal(frame.events[0].message_id, 1);
    break;
  }
  log(`/ws/behaviour: ${JSON.stringify(ack)}; the monitor saw message 1`);

  // Every process of the container, tini and Node alike, runs as the image's user.
  const processes = podman('top', CONTAINER, 'user', 'ruser', 'args').split('\n').slice(1);
  assert.ok(
    processes.some((p) => /node dist\/main\.js/.test(p)),
    processes.join('\n'),
  );
  for (const p of processes) assert.doesNotMatch(p, /^\s*(root|0)\s|^\S+\s+(root|0)\s/, p);
  const uids = podman('exec', CONTAINER, 'node', '-p', 'process.getuid() + ":" + process.getgid()');
  assert.equal(uids, '10001:10001');
  log(`non-root: ${processes.map((p) => p.replace(/\s+/g, ' ').trim()).join('; ')}`);

  // The runtime stage holds the production dependencies, dist/ and public/, and nothing else of the
  // repository: every package of the lockfile's production tree is there, none of its dev-only ones.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const topLevel = Object.entries(lock.packages).filter(([path]) =>
    /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path),
  );
  const production = topLevel.filter(([, p]) => !p.dev && !p.link).map(([path]) => path);
  const devOnly = topLevel.filter(([, p]) => p.dev).map(([path]) => path);
  const present = JSON.parse(
    podman(
      'exec',
      CONTAINER,
      'node',
      '-p',
      `JSON.stringify(process.argv.slice(1).filter((p) => require('node:fs').existsSync(p)))`,
      ...production,
      ...devOnly,
      'dist/main.js',
      'public/index.html',
      'src',
      'test',
    ),
  );
  assert.deepEqual(present, [...production, 'dist/main.js', 'public/index.html']);
  log(
    `layout: dist/, public/, ${production.length} production packages, none of ${devOnly.length} dev-only ones`,
  );

  // The image's HEALTHCHECK, run now rather than on its timer.
  const check = tryPodman('healthcheck', 'run', CONTAINER);
  assert.equal(check.status, 0, `HEALTHCHECK failed: ${check.stdout}${check.stderr}`);
  log('HEALTHCHECK: healthy');

  return { client, monitor };
}

async function main() {
  preflight();
  const base = baseImage();
  buildService(base);
  const size = Number(podman('image', 'inspect', '--format', '{{.Size}}', IMAGE));
  const baseSize = Number(podman('image', 'inspect', '--format', '{{.Size}}', base));

  const port = await freePort();
  tryPodman('rm', '-f', CONTAINER);
  podman(
    'run',
    '--detach',
    '--name',
    CONTAINER,
    ...ULIMITS,
    // As deploy/kubernetes runs it (readOnlyRootFilesystem): the service writes no file.
    '--read-only',
    '--publish',
    `127.0.0.1:${port}:8000`,
    '--env',
    `SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS}`,
    '--env',
    'MONITOR_REPLAY=0',
    IMAGE,
  );
  try {
    const { client, monitor } = await checkRunning(port);
    // SIGTERM with clients connected: each gets 1001, and the service exits 0, which it does only
    // when its drain finished inside SHUTDOWN_TIMEOUT_MS (a timed-out shutdown exits 1; a kill
    // after the grace period would show 137).
    const { stopMs, lines } = await stopAndCheck(CONTAINER, [client, monitor]);
    assert.deepEqual(
      lines.filter((l) => l.level >= 50),
      [],
    );
    log(
      `podman stop: both clients closed with 1001, exit 0 after ${stopMs} ms (SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS})`,
    );
  } finally {
    tryPodman('rm', '-f', CONTAINER);
  }
  await checkCluster();
  log(`image size: ${IMAGE} ${mb(size)} (base ${mb(baseSize)}, CBSA's layers ${mb(size - baseSize)})`);
  log('passed');
}

/** `podman stop`: every client gets 1001 and the container exits 0; its log lines. */
async function stopAndCheck(name, clients) {
  const started = Date.now();
  podman('stop', '--time', String(STOP_GRACE_S), name);
  const stopMs = Date.now() - started;
  const closes = await Promise.race([
    Promise.all(clients.map((c) => c.closed)),
    sleep(5000).then(() => assert.fail('a client was not closed')),
  ]);
  assert.deepEqual(
    closes,
    clients.map(() => ({ code: 1001, reason: 'Server shutting down' })),
  );
  const exitCode = Number(podman('inspect', '--format', '{{.State.ExitCode}}', name));
  const logs = podman('logs', name).split('\n').filter(Boolean);
  assert.equal(exitCode, 0, `exit code ${exitCode}:\n${logs.join('\n')}`);
  const lines = logs.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
  assert.ok(
    lines.some((l) => l.msg === 'Shutting down (SIGTERM)'),
    logs.join('\n'),
  );
  return { stopMs, lines };
}

/** The container's processes from /proc: pid, parent, state (Z: a zombie nobody reaped) and command. */
function processes(name) {
  const script = `const fs = require('node:fs');
    console.log(JSON.stringify(fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d)).flatMap((pid) => {
      try {
        const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0').join(' ').trim();
        return [{ pid: Number(pid), ppid: Number(ppid), state, cmd }];
      } catch { return []; }
    })))`;
  return JSON.parse(podman('exec', name, 'node', '-e', script));
}

/**
 * WORKERS=2 on a Redis of the host: tini hands SIGTERM to the node:cluster primary, which drains
 * every worker; a worker killed with SIGKILL is reaped (no zombie is left) and replaced.
 */
async function checkCluster() {
  if (spawnSync('redis-server', ['--version']).error) {
    if (process.env.CI) assert.fail('redis-server not found: apt-get install -y redis-server');
    log('WORKERS=2 run skipped: no redis-server (apt-get install -y redis-server)');
    return;
  }
  const name = `${CONTAINER}-cluster`;
  const redisPort = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  try {
    const port = await freePort();
    tryPodman('rm', '-f', name);
    // The host's network, so the container reaches the private redis-server on 127.0.0.1.
    podman(
      'run',
      '--detach',
      '--name',
      name,
      ...ULIMITS,
      '--read-only',
      '--network',
      'host',
      ...['--env', 'HOST=127.0.0.1', '--env', `PORT=${port}`, '--env', 'WORKERS=2'],
      ...[
        '--env',
        `REDIS_URL=redis://127.0.0.1:${redisPort}/0`,
        '--env',
        `SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS}`,
      ],
      IMAGE,
    );
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(base, name);
    const tree = () => {
      const all = processes(name);
      const primary = all.find((p) => p.cmd === 'node dist/main.js' && p.ppid === 1);
      assert.ok(primary, JSON.stringify(all));
      return { all, workers: all.filter((p) => p.ppid === primary.pid) };
    };
    const before = tree();
    assert.equal(before.workers.length, 2, JSON.stringify(before.all));
    // Kill one worker outright: the primary must reap it and fork a replacement.
    const victim = before.workers[0].pid;
    podman('exec', name, 'node', '-e', `process.kill(${victim}, 'SIGKILL')`);
    const deadline = Date.now() + 30_000;
    let after = tree();
    while (after.workers.length < 2 || after.workers.some((w) => w.pid === victim)) {
      if (Date.now() > deadline) assert.fail(`no replacement worker: ${JSON.stringify(after.all)}`);
      await sleep(250);
      after = tree();
    }
    assert.deepEqual(
      after.all.filter((p) => p.state === 'Z'),
      [],
    );

    // The replacement serves before the stop: SIGTERM in the middle of a worker's boot is another case.
    const replacement = after.workers.find((w) => !before.workers.some((b) => b.pid === w.pid)).pid;
    while (!podman('logs', name).includes(`"pid":${replacement},"context":"Bootstrap"`)) {
      if (Date.now() > deadline + 30_000) assert.fail(`worker ${replacement} never listened`);
      await sleep(250);
    }
    log(
      `WORKERS=2: worker ${victim} killed with SIGKILL was reaped (no zombie) and replaced by ${replacement}`,
    );
    const client = await WsClient.open(`ws://127.0.0.1:${port}/ws/behaviour`);
    client.socket.send('{"event_type":"tap"}');
    assert.equal(JSON.parse(await client.next()).status, 'received');
    const { stopMs } = await stopAndCheck(name, [client]);
    log(`WORKERS=2: podman stop drained the cluster, client closed with 1001, exit 0 after ${stopMs} ms`);
  } finally {
    tryPodman('rm', '-f', name);
    redis.kill('SIGKILL');
  }
}

main().catch((err) => {
  console.error(`[test:container] FAILED: ${err.stack ?? err}`);
  tryPodman('rm', '-f', CONTAINER);
  tryPodman('rm', '-f', `${CONTAINER}-cluster`);
  process.exit(1);
});
