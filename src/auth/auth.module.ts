import { Global, Module } from '@nestjs/common';
import { AuthService } from './auth.service.js';

/** Global: the upgrade policy, the ingest gateway, health and the monitor fan-out all ask it. */
@Global()
@Module({ providers: [AuthService], exports: [AuthService] })
export class AuthModule {}
