import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { setupApp } from './app.setup.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { bufferLogs: true, abortOnError: false });
  const cfg = await setupApp(app);
  await app.listen(cfg.port, cfg.host);
}

bootstrap().catch((err: unknown) => {
  // Config and flow-map errors carry a message naming what is wrong; that is all the operator needs.
  console.error(`CBSA failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
