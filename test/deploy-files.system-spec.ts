// deploy/ and the Dockerfile cannot drift from the service: every variable they set is a setting the
// service validates, every path and port they probe is one it serves, their grace periods cover its
// shutdown, and every metric the Grafana dashboard queries is in a live /metrics of the real app.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parse, parseAllDocuments } from 'yaml';
import { type AppConfig, PACKAGE_ROOT, parseEnv } from '../src/config/env.js';
import { SETTINGS } from '../src/config/schema.js';
import { type RunningApp, startApp } from './support/app.js';
import { NatsServer } from '../harness/nats-server.mjs';
import { describeWithNats } from './support/nats.js';
import { RedisServer } from '../harness/redis-server.mjs';
import { describeWithRedis } from './support/redis.js';
import { Service } from '../harness/service.mjs';
import { until } from '../harness/wait.mjs';
import { WsClient } from '../harness/ws-client.mjs';

const DEPLOY = join(PACKAGE_ROOT, 'deploy');
const ANY_STRING = expect.any(String) as unknown;
const KUBERNETES = join(DEPLOY, 'kubernetes');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { optional?: boolean } };
}
interface HttpProbe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  image: string;
  ports: { name: string; containerPort: number }[];
  env: EnvVar[];
  livenessProbe: HttpProbe;
  readinessProbe: HttpProbe;
  startupProbe?: HttpProbe;
  lifecycle: { preStop: { exec: { command: string[] } } };
  resources: { requests: { cpu: string; memory: string } };
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}
interface Deployment extends Manifest {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { terminationGracePeriodSeconds: number; containers: Container[] };
    };
  };
}
interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  stop_grace_period?: string;
}

const manifests: Manifest[] = readdirSync(KUBERNETES)
  .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(KUBERNETES, file), 'utf8')).map((d) => d.toJS() as Manifest),
  );
const ofKind = <T extends Manifest>(kind: string): T => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as T;
};
const deployment = ofKind<Deployment>('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const compose = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'cbsa.json'), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { type: string; query?: string | { query: string } }[] };
};

/** The Deployment's literal env (secret references are optional and unset here). */
const deploymentEnv = Object.fromEntries(
  container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
);
/** Compose's env with each `${VAR:-default}` at its default, as `docker compose up` gives it. */
const composeEnv = Object.fromEntries(
  Object.entries(compose.services.cbsa.environment ?? {}).map(([name, value]) => [
    name,
    String(value).replace(/\$\{\w+:-([^}]*)\}/g, '$1'),
  ]),
);
const settingNames = new Set(Object.values(SETTINGS).map((s) => s.env));

/** "15s", "1m30s" (compose durations) in seconds. */
function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)(h|m|s)/g)];
  expect(parts.map((p) => p[0]).join('')).toBe(text);
  return parts.reduce(
    (sum, [, n, unit]) => sum + Number(n) * { h: 3600, m: 60, s: 1 }[unit as 'h' | 'm' | 's'],
    0,
  );
}

/** The metric names an expression selects: every selector in the dashboard carries a matcher. */
function selectors(expr: string): { metric: string; matchers: [string, string, string][] }[] {
  return [...expr.matchAll(/([a-zA-Z_:][\w:]*)\{([^}]*)\}/g)].map(([, metric, body]) => ({
    metric,
    matchers: [...body.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map(([, l, op, v]) => [l, op, v]),
  }));
}

interface Exposition {
  /** Every name a query may select: metric families, and the _bucket/_sum/_count series of histograms. */
  names: Set<string>;
  /** Every sample as name and labels. */
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

function exposition(text: string): Exposition {
  const names = new Set<string>();
  const samples: Exposition['samples'] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)$/.exec(line);
    if (type) {
      const [, name, kind] = type;
      names.add(name);
      if (kind === 'histogram') ['_bucket', '_sum', '_count'].forEach((s) => names.add(name + s));
      if (kind === 'summary') ['_sum', '_count'].forEach((s) => names.add(name + s));
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not Prometheus text: ${line}`);
    const labels = Object.fromEntries(
      [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]),
    );
    names.add(sample[1]);
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { names, samples };
}

describe('Deployment files: configuration and shutdown', () => {
  it('set only variables the service reads, with values it accepts', () => {
    const deploymentNames = container.env.map((e) => e.name);
    const composeNames = Object.keys(compose.services.cbsa.environment ?? {});
    const dockerfileNames = [...dockerfile.matchAll(/^ENV (.+)$/gm)].flatMap(([, pairs]) =>
      [...pairs.matchAll(/(\w+)=/g)].map(([, name]) => name),
    );
    expect(
      [...deploymentNames, ...composeNames, ...dockerfileNames].filter(
        (n) => !settingNames.has(n) && n !== 'NODE_ENV',
      ),
    ).toEqual([]);
    // Each parses as the service parses its environment at boot (it throws on any invalid value).
    expect(parseEnv(deploymentEnv).sink).toBe('redis-stream');
    expect(parseEnv(composeEnv).sink).toBe('redis-stream');
    // Secrets come from a Secret that may be absent, never from the manifest itself.
    for (const name of ['INGEST_TOKENS', 'MONITOR_TOKEN']) {
      expect(container.env.find((e) => e.name === name)).toMatchObject({
        valueFrom: { secretKeyRef: { optional: true } },
      });
    }
  });

  it('give the service its whole SHUTDOWN_TIMEOUT_MS plus 5 s to drain and exit after SIGTERM', () => {
    const k8s = parseEnv(deploymentEnv);
    const [command, seconds, ...rest] = container.lifecycle.preStop.exec.command;
    expect({ command, rest }).toEqual({ command: 'sleep', rest: [] });
    const preStop = Number(seconds);
    expect(preStop).toBeGreaterThan(0);
    // Kubernetes counts the preStop pause inside the grace period; SIGTERM comes after it.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
      preStop + k8s.shutdownTimeoutMs / 1000 + 5,
    );

    const composed = parseEnv(composeEnv);
    expect(durationSeconds(compose.services.cbsa.stop_grace_period!)).toBeGreaterThanOrEqual(
      composed.shutdownTimeoutMs / 1000 + 5,
    );
  });

  it('run Redis with AOF fsynced on every write and NATS with JetStream, and request resources', () => {
    const redis = compose.services.redis.command!.join(' ');
    expect(redis).toMatch(/--appendonly yes/);
    expect(redis).toMatch(/--appendfsync always/);
    expect(compose.services.nats.command).toEqual(expect.arrayContaining(['--jetstream']));
    expect(composeEnv.REDIS_URL).toBe('redis://redis:6379/0');
    expect(composeEnv.NATS_URL).toBe('nats://nats:4222');
    expect(container.resources.requests).toEqual({ cpu: ANY_STRING, memory: ANY_STRING });
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(container.image).toBe(`cbsa:${pkg.version}`);
  });
});

describeWithRedis('Deployment files against the running service', () => {
  let redis: RedisServer;
  let dataDir: string;
  let running: RunningApp;
  let config: AppConfig;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cbsa-deploy-'));
    redis = await RedisServer.start({ dataDir });
    // The Deployment's own env, on a free port of this machine and a private Redis.
    running = await startApp({
      ...deploymentEnv,
      HOST: '127.0.0.1',
      PORT: '0',
      REDIS_URL: redis.url,
      LOG_LEVEL: 'ERROR',
    });
    config = running.config;
  }, 60_000);
  afterAll(async () => {
    await running?.close();
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('every probe path and port of the manifests and the image is served on the configured port', async () => {
    const ports = new Map(container.ports.map((p) => [p.name, p.containerPort]));
    // One port, the one the Deployment's env makes the service listen on (here replaced by a free one).
    expect([...ports.values()]).toEqual([parseEnv(deploymentEnv).port]);

    const probes = [container.livenessProbe, container.readinessProbe, container.startupProbe].filter(
      (p): p is HttpProbe => p !== undefined,
    );
    for (const probe of probes) {
      expect(ports.has(String(probe.httpGet.port))).toBe(true);
      const res = await fetch(`${running.http}${probe.httpGet.path}`);
      expect({ path: probe.httpGet.path, status: res.status }).toEqual({
        path: probe.httpGet.path,
        status: 200,
      });
    }
    expect(probes.map((p) => p.httpGet.path).sort()).toEqual([
      '/health/live',
      '/health/live',
      '/health/ready',
    ]);

    // The Service and the ServiceMonitor reach the container port by name, and scrape /metrics.
    const service = ofKind<
      Manifest & { spec: { selector: object; ports: { name: string; targetPort: string }[] } }
    >('Service');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    for (const p of service.spec.ports) expect(ports.has(p.targetPort)).toBe(true);
    const pdb = ofKind<Manifest & { spec: { selector: { matchLabels: object } } }>('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const monitor = ofKind<Manifest & { spec: { endpoints: { port: string; path: string }[] } }>(
      'ServiceMonitor',
    );
    for (const endpoint of monitor.spec.endpoints) {
      expect(service.spec.ports.map((p) => p.name)).toContain(endpoint.port);
      const res = await fetch(`${running.http}${endpoint.path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^# HELP cbsa_/m);
    }

    // The image: EXPOSE and PORT agree with the manifests, and its HEALTHCHECK asks a served path.
    expect(/^EXPOSE (\d+)$/m.exec(dockerfile)![1]).toBe(String(ports.get('http')));
    expect(/^ENV .*\bPORT=(\d+)/m.exec(dockerfile)![1]).toBe(String(ports.get('http')));
    const healthcheck = /\/health\/\w+/.exec(/HEALTHCHECK[\s\S]*?CMD (.+)$/m.exec(dockerfile)![1])![0];
    expect((await fetch(`${running.http}${healthcheck}`)).status).toBe(200);
    // Compose publishes the port the service listens on.
    const published = compose.services.cbsa.ports!.map((p) => Number(p.split(':').pop()));
    expect(published).toEqual([Number(composeEnv.PORT)]);
  });

  describeWithNats('the Grafana dashboard', () => {
    let nats: NatsServer;
    let natsService: Service;
    let natsHttp: string;
    let exposed: Exposition;

    beforeAll(async () => {
      nats = await NatsServer.start();
      // The production build, as the other NATS suites run it.
      natsService = new Service({ SINK: 'nats', NATS_URL: nats.url });
      natsHttp = `http://127.0.0.1:${await natsService.port()}`;
      // A consumer group on the stream, and an event in each sink, so the lag and pending series and
      // the latency histograms have samples (the stream's figures are read every 2 s).
      const client = new Redis(redis.url);
      await client.xgroup('CREATE', `${config.redisPrefix}stream`, 'analytics', '$', 'MKSTREAM');
      await client.quit();
      for (const http of [running.http, natsHttp]) {
        const ingest = await WsClient.open(`${http.replace('http', 'ws')}/ws/behaviour`);
        ingest.send('{"event_type":"tap"}');
        expect(JSON.parse(await ingest.next())).toMatchObject({ status: 'received' });
        ingest.close();
      }
      const scrape = async (http: string) => (await fetch(`${http}/metrics`)).text();
      const redisText = await until(
        () => scrape(running.http),
        (text) => text.includes('cbsa_stream_consumer_lag{group="analytics"}'),
      );
      const texts = [redisText, await scrape(natsHttp)].map(exposition);
      exposed = {
        names: new Set(texts.flatMap((t) => [...t.names])),
        samples: texts.flatMap((t) => t.samples),
      };
    }, 60_000);
    afterAll(async () => {
      await natsService?.stop();
      await nats?.stop();
    });

    const exprs = () => [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...dashboard.templating.list
        .filter((v) => v.type === 'query')
        .map((v) => (typeof v.query === 'object' ? v.query.query : v.query!)),
    ];

    it('queries only metrics and label values a live /metrics of the service exposes', () => {
      const missing: string[] = [];
      for (const expr of exprs()) {
        const found = selectors(expr.replace(/label_values\((\w+),/, '$1{}'));
        if (found.length === 0) missing.push(`no metric in ${expr}`);
        for (const { metric, matchers } of found) {
          if (!exposed.names.has(metric)) missing.push(metric);
          for (const [label, op, value] of matchers) {
            // job comes from Prometheus' target; $variables from Grafana; negations select nothing new.
            if (label === 'job' || value.includes('$') || op.startsWith('!')) continue;
            for (const wanted of value.split('|')) {
              if (op === '=~' && !/^[\w.-]+$/.test(wanted)) throw new Error(`not a list of values: ${value}`);
              const has = exposed.samples.some((s) => s.name === metric && s.labels[label] === wanted);
              if (!has) missing.push(`${metric}{${label}="${wanted}"}`);
            }
          }
        }
      }
      expect(missing).toEqual([]);
    });

    it('covers acks, latency, errors, gaps, duplicates, auth, sink lag, connections, monitors and the event loop', () => {
      const queried = new Set(exprs().flatMap((e) => selectors(e).map((s) => s.metric)));
      for (const metric of [
        'cbsa_frames_total',
        'cbsa_ack_latency_seconds_bucket',
        'cbsa_sink_errors_total',
        'cbsa_stream_gaps_total',
        'cbsa_stream_duplicates_total',
        'cbsa_auth_refused_total',
        'cbsa_sink_queue_depth',
        'cbsa_stream_consumer_lag',
        'cbsa_active_connections',
        'cbsa_active_monitors',
        'nodejs_eventloop_lag_p99_seconds',
        'cbsa_build_info',
      ]) {
        expect(queried).toContain(metric);
      }
    });

    it('cbsa_build_info says the version, Node.js and sink of each instance', () => {
      const info = exposed.samples.filter((s) => s.name === 'cbsa_build_info');
      expect(info).toEqual([
        {
          name: 'cbsa_build_info',
          labels: { version: config.version, node: process.versions.node, sink: 'redis-stream' },
          value: 1,
        },
        {
          name: 'cbsa_build_info',
          labels: { version: config.version, node: process.versions.node, sink: 'nats' },
          value: 1,
        },
      ]);
    });
  });
});
