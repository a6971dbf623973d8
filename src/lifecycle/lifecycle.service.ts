import { Injectable } from '@nestjs/common';

/** Whether the service is shutting down: /health reports it and new upgrades are refused. */
@Injectable()
export class LifecycleService {
  private stopping = false;

  get shuttingDown(): boolean {
    return this.stopping;
  }

  beginShutdown(): void {
    this.stopping = true;
  }
}
