// Prometheus metrics (prom-client) on a registry of this app's own. Services register the numbers
// they own (counter/gauge below) and those are read at scrape time, so the per-frame path does no
// metric work but the sampled ack latency. This service depends on nothing, so anything may inject it.
import { Injectable } from '@nestjs/common';
import cluster from 'node:cluster';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { WorkerMetrics } from './cluster-metrics.js';

/** With acks written as frames are read, one frame in this many is timed. */
export const LATENCY_SAMPLE_EVERY = 64;

/**
 * The event-loop delay histogram's timer period (nodejs_eventloop_lag_*). prom-client's 10 ms wakes
 * an idle process 100 times a second, about 0.5 % of a core per process.
 * At 100 ms a stall is still caught when it overlaps a sample (one of 100 ms or more always is).
 */
const EVENT_LOOP_SAMPLE_MS = 100;

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly ackLatency: Histogram;
  /** In a node:cluster worker (WORKERS > 1): the whole cluster's metrics come from the primary. */
  private readonly worker = cluster.isWorker ? new WorkerMetrics(this.registry) : undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.ackLatency = new Histogram({
      name: 'cbsa_ack_latency_seconds',
      help: `Frame received to ack written. Every frame with SINK=redis-stream; else 1 in ${LATENCY_SAMPLE_EVERY}`,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
  }

  /** What GET /metrics answers: this process's metrics, or with workers the cluster's, summed per series. */
  scrape(): Promise<string> {
    return this.worker ? this.worker.clusterMetrics() : this.registry.metrics();
  }

  /** A counter read from its owner at scrape time: one number, or one per value of `label`. */
  counter(name: string, help: string, read: () => number): void;
  counter(name: string, help: string, read: () => Record<string, number>, label: string): void;
  counter(name: string, help: string, read: () => number | Record<string, number>, label?: string): void {
    new Counter({
      name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: [this.registry],
      collect() {
        this.reset();
        const value = read();
        if (typeof value === 'number') return this.inc(value);
        for (const [key, count] of Object.entries(value)) this.inc({ [label!]: key }, count);
      },
    });
  }

  /** A histogram its owner observes into (e.g. a latency per publish); seconds, on this registry. */
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name, help, buckets, registers: [this.registry] });
  }

  /** A gauge read from its owner at scrape time: one number, or one per value of `label`. */
  gauge(name: string, help: string, read: () => number): void;
  gauge(name: string, help: string, read: () => Record<string, number>, label: string): void;
  gauge(name: string, help: string, read: () => number | Record<string, number>, label?: string): void {
    new Gauge({
      name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: [this.registry],
      collect() {
        this.reset();
        const value = read();
        if (typeof value === 'number') return this.set(value);
        for (const [key, count] of Object.entries(value)) this.set({ [label!]: key }, count);
      },
    });
  }
}
