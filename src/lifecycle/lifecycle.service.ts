import { Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';

/** Whether the service is shutting down: /health reports it and new upgrades are refused. */
@Injectable()
export class LifecycleService {
  private stopping = false;
  private startedAt: number | undefined;

  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** When the shutdown began (performance.now()), so each step can keep to SHUTDOWN_TIMEOUT_MS. */
  get shutdownStartedAt(): number | undefined {
    return this.startedAt;
  }

  beginShutdown(): void {
    this.stopping = true;
    this.startedAt ??= performance.now();
  }
}
