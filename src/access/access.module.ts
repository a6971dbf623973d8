import { Module } from '@nestjs/common';
import { UpgradePolicy } from './upgrade-policy.js';

@Module({ providers: [UpgradePolicy], exports: [UpgradePolicy] })
export class AccessModule {}
