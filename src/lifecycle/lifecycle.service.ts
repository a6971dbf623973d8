import { Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';

/** Whether the service is shutting down: /health reports it and new upgrades are refused. */
@Injectable()
export class LifecycleService {
  /**
   * When this instance started (ISO 8601), in /health and the monitor's hello: a page that sees it
   * change knows the service restarted, and why its totals and message ids began again.
   */
  readonly startedAt = new Date().toISOString();
  private stopping = false;
  private shutdownAt: number | undefined;

  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** When the shutdown began (performance.now()), so each step can keep to SHUTDOWN_TIMEOUT_MS. */
  get shutdownStartedAt(): number | undefined {
    return this.shutdownAt;
  }

  beginShutdown(): void {
    this.stopping = true;
    this.shutdownAt ??= performance.now();
  }
}
