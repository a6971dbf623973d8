import { Module } from '@nestjs/common';
import { StreamModule } from '../stream/stream.module.js';
import { MonitorGateway } from './monitor.gateway.js';

@Module({ imports: [StreamModule], providers: [MonitorGateway] })
export class MonitorModule {}
