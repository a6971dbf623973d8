import { Module } from '@nestjs/common';
import { ConnectionSlots } from './connection-slots.js';
import { UpgradePolicy } from './upgrade-policy.js';

@Module({ providers: [ConnectionSlots, UpgradePolicy], exports: [ConnectionSlots, UpgradePolicy] })
export class AccessModule {}
