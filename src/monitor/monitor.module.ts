import { Module } from '@nestjs/common';
import { ClusterModule } from '../cluster/cluster.module.js';
import { StreamModule } from '../stream/stream.module.js';
import { MonitorGateway } from './monitor.gateway.js';

@Module({ imports: [StreamModule, ClusterModule], providers: [MonitorGateway], exports: [MonitorGateway] })
export class MonitorModule {}
