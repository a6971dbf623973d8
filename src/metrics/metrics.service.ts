// Prometheus metrics (prom-client) on a registry of this app's own. Counts are read from the
// services at scrape time, so the per-frame path does no metric work but the sampled latency.
import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BusService } from '../cluster/bus.service.js';
import { MonitorGateway } from '../monitor/monitor.gateway.js';
import { StreamRetention } from '../sink/stream-retention.service.js';
import { StreamSink } from '../sink/stream-sink.service.js';
import { StreamService } from '../stream/stream.service.js';

/** With acks written as frames are read, one frame in this many is timed. */
export const LATENCY_SAMPLE_EVERY = 64;

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly ackLatency: Histogram;

  constructor(moduleRef: ModuleRef) {
    const get = <T>(type: abstract new (...args: never[]) => T): T => moduleRef.get(type, { strict: false });
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    const registers = [this.registry];
    new Counter({
      name: 'cbsa_frames_total',
      help: 'Ingest frames by outcome: received (acked), malformed, rate_limited, unavailable',
      labelNames: ['status'],
      registers,
      collect() {
        this.reset();
        for (const [status, count] of Object.entries(get(StreamService).frameCounts()))
          this.inc({ status }, count);
      },
    });
    new Gauge({
      name: 'cbsa_active_connections',
      help: 'Open ingest sockets on this instance',
      registers,
      collect() {
        this.set(get(StreamService).stats().active_connections);
      },
    });
    new Gauge({
      name: 'cbsa_active_monitors',
      help: 'Open monitor sockets on this instance',
      registers,
      collect() {
        this.set(get(StreamService).stats().active_monitors);
      },
    });
    new Counter({
      name: 'cbsa_monitor_events_dropped_total',
      help: 'Events not sent to monitors that were over MONITOR_MAX_BUFFER_BYTES',
      registers,
      collect() {
        this.reset();
        this.inc(get(MonitorGateway).dropped);
      },
    });
    new Counter({
      name: 'cbsa_redis_publish_errors_total',
      help: 'Monitor batches that could not be published on the Redis bus',
      registers,
      collect() {
        this.reset();
        this.inc(get(BusService).errors);
      },
    });
    new Counter({
      name: 'cbsa_sink_errors_total',
      help: 'Stream appends that failed (their frames were answered "Service unavailable")',
      registers,
      collect() {
        this.reset();
        this.inc(get(StreamSink).errors);
      },
    });
    new Counter({
      name: 'cbsa_stream_gaps_total',
      help: 'Events resumable clients skipped (sum of seq gaps reported)',
      registers,
      collect() {
        this.reset();
        this.inc(get(StreamService).stats().total_gaps);
      },
    });
    new Counter({
      name: 'cbsa_stream_duplicates_total',
      help: 'Frames of resumable streams answered "duplicate" (already accepted; not stored again)',
      registers,
      collect() {
        this.reset();
        this.inc(get(StreamService).stats().total_duplicates);
      },
    });
    new Gauge({
      name: 'cbsa_sink_queue_depth',
      help: 'Frames waiting for their append (SINK=redis-stream)',
      registers,
      collect() {
        this.set(get(StreamSink).depth);
      },
    });
    new Gauge({
      name: 'cbsa_stream_length',
      help: 'Entries in the Redis Stream (SINK=redis-stream; read every 2 s)',
      registers,
      collect() {
        this.set(get(StreamRetention).length);
      },
    });
    new Gauge({
      name: 'cbsa_stream_consumer_lag',
      help: 'Entries not yet delivered to each consumer group (XINFO GROUPS lag)',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of get(StreamRetention).groups) this.set({ group: g.name }, g.lag);
      },
    });
    new Gauge({
      name: 'cbsa_stream_consumer_pending',
      help: 'Entries delivered to each consumer group and not yet acknowledged (XPENDING)',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of get(StreamRetention).groups) this.set({ group: g.name }, g.pending);
      },
    });
    this.ackLatency = new Histogram({
      name: 'cbsa_ack_latency_seconds',
      help: `Frame received to ack written. Every frame with SINK=redis-stream; else 1 in ${LATENCY_SAMPLE_EVERY}`,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
  }
}
