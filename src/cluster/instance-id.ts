import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Names this process among the instances sharing Redis: host, pid and a random suffix. */
export const INSTANCE_ID = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
