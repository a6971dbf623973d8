import { Module } from '@nestjs/common';
import { NatsClient } from './connection.js';
import { NatsIdLessor } from './id-lessor.js';

/** The NATS connection and the id lessor on it: the id source (stream/) and the log (sink/) share them. */
@Module({ providers: [NatsClient, NatsIdLessor], exports: [NatsClient, NatsIdLessor] })
export class NatsModule {}
