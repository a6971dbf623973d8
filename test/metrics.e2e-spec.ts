// GET /metrics, GET /health/live and GET /health/ready without Redis.
import { type RunningApp, startApp } from './support/app.js';
import { WsClient } from '../harness/ws-client.mjs';

/**
 * Parses Prometheus text exposition into samples, failing on any line that is not valid. Values are
 * read as Go's ParseFloat reads them, which takes NaN in any case (prom-client writes "Nan").
 */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][\w:]* .+$/.test(line)) continue;
    const match =
      /^([a-zA-Z_:][\w:]*(?:\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})?) (-?[\d.e+-]+|[Nn]a[Nn]|[+-]Inf)$/.exec(
        line,
      );
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

describe('Metrics and probes (e2e)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ RATE_LIMIT_PER_CONNECTION: '1', RATE_LIMIT_BURST: '5' });
  });
  afterAll(() => running.close());

  it('exposes Prometheus text whose frame counters match what was sent', async () => {
    const client = await WsClient.open(running.ws('/ws/behaviour'));
    const monitor = await WsClient.open(running.ws('/ws/monitor'));
    for (let i = 0; i < 4; i++) client.send(`{"i":${i}}`);
    client.send('not json');
    client.send('{"over":"limit"}');
    for (let i = 0; i < 6; i++) await client.next();
    const res = await fetch(`${running.http}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(await res.text());
    expect(samples.get('cbsa_frames_total{status="received"}')).toBe(4);
    expect(samples.get('cbsa_frames_total{status="malformed"}')).toBe(1);
    expect(samples.get('cbsa_frames_total{status="rate_limited"}')).toBe(1);
    expect(samples.get('cbsa_frames_total{status="unavailable"}')).toBe(0);
    expect(samples.get('cbsa_active_connections')).toBe(1);
    expect(samples.get('cbsa_active_monitors')).toBe(1);
    expect(samples.get('cbsa_monitor_events_dropped_total')).toBe(0);
    expect(samples.get('cbsa_redis_publish_errors_total')).toBe(0);
    expect(samples.get('cbsa_sink_errors_total')).toBe(0);
    expect(samples.has('cbsa_ack_latency_seconds_count')).toBe(true);
    expect(samples.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    expect(samples.has('process_resident_memory_bytes')).toBe(true);
    client.close();
    monitor.close();
  });

  it('answers live and ready with 200 when no Redis is configured', async () => {
    const live = await fetch(`${running.http}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${running.http}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ok',
      details: { shutdown: { status: 'up' }, ids: { status: 'up' }, sink: { status: 'up' } },
    });
  });
});
