import { randomBytes } from 'node:crypto';

/** A short random id naming one socket in acks, logs and monitor events (URL- and JSON-safe). */
export function newClientId(): string {
  return randomBytes(6).toString('base64url');
}
