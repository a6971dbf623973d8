import { Module } from '@nestjs/common';
import { ConnectionSlots } from './connection-slots.js';
import { UpgradePolicy } from './upgrade-policy.js';

@Module({ providers: [ConnectionSlots, UpgradePolicy], exports: [UpgradePolicy] })
export class AccessModule {}
