// SIGTERM / SIGINT, in this order: stop taking upgrades (and report shutting_down), drain the sink
// (frames arriving from now on get no reply and are not stored), write the pending acks, close
// every socket with 1001, then disconnect Redis; within SHUTDOWN_TIMEOUT_MS whatever happens.
// Resolves true when the shutdown completed, false when it timed out (main.ts then exits 1).
import type { INestApplication } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { appConfig } from '../config/app.config.js';
import type { AppConfig } from '../config/env.js';
import { FramePipeline } from '../ingest/frame-pipeline.js';
import { StreamService } from '../stream/stream.service.js';
import { LifecycleService } from './lifecycle.service.js';

export async function gracefulShutdown(app: INestApplication, reason: string): Promise<boolean> {
  const cfg = app.get<AppConfig>(appConfig.KEY);
  const logger = await app.resolve<PinoLogger>(PinoLogger);
  logger.setContext('Shutdown');
  app.get(LifecycleService).beginShutdown();
  logger.info({ reason, timeout_ms: cfg.shutdownTimeoutMs }, 'Shutting down (%s)', reason);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), cfg.shutdownTimeoutMs - 100);
  });
  // app.close() then closes the sockets (1001, after their pending acks) and, last, Redis.
  const closed = app
    .get(FramePipeline)
    .drain(cfg.shutdownTimeoutMs / 2)
    .then(() => app.close());
  const finished = await Promise.race([closed.then(() => true), timedOut]);
  clearTimeout(timer);
  const { total_messages, total_errors } = app.get(StreamService).stats();
  if (finished) logger.info({ total_messages, total_errors }, 'Shutdown complete');
  else
    logger.error({ total_messages, total_errors }, 'Shutdown timed out; exiting with connections still open');
  return finished;
}
