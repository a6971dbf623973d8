import { INSTANCE_ID } from '../../cluster/instance-id.js';
import type { SinkEntry } from '../durable-sink.js';
import { natsHeaders } from './publisher.js';

const entry: SinkEntry = {
  stream: 'app-1:device@42',
  seq: 17,
  messageId: 1234567,
  clientId: 'Ab-_9xYz0123',
  timestamp: '1764337000.123',
  category: 'touch',
  data: '{"seq":17}',
};

/** The headers as a consumer reads them, in order, from the encoded header block. */
function read(e: SinkEntry, policy?: string): Record<string, string> {
  const h = natsHeaders(e, policy);
  return Object.fromEntries(h.keys().map((k) => [k, h.get(k)]));
}

const common = {
  message_id: '1234567',
  client_id: 'Ab-_9xYz0123',
  server_timestamp: '1764337000.123',
  category: 'touch',
};

describe(natsHeaders.name, () => {
  it('carries the metadata, the stream and seq, and Nats-Msg-Id <stream>:<seq> for a resumable entry', () => {
    expect(read(entry)).toEqual({
      ...common,
      sub: '',
      kid: '',
      stream: 'app-1:device@42',
      seq: '17',
      'Nats-Msg-Id': 'app-1:device@42:17',
    });
  });

  it('dedupes on <instance>:<message_id> without a stream', () => {
    expect(read({ ...entry, stream: '', seq: 0 })).toEqual({
      ...common,
      sub: '',
      kid: '',
      'Nats-Msg-Id': `${INSTANCE_ID}:1234567`,
    });
  });

  it('carries provenance, the policy version and schema errors when they apply', () => {
    const quarantined = { ...entry, sub: 'app-1', kid: 'key-2026.12', quarantine: '[{"path":"/x"}]' };
    expect(read(quarantined, 'v3')).toEqual({
      ...common,
      sub: 'app-1',
      kid: 'key-2026.12',
      policy: 'v3',
      errors: '[{"path":"/x"}]',
      stream: 'app-1:device@42',
      seq: '17',
      'Nats-Msg-Id': 'app-1:device@42:17',
    });
  });

  it('keeps the keys in the order a consumer reads them', () => {
    expect(natsHeaders(entry).keys()).toEqual([
      'message_id',
      'client_id',
      'server_timestamp',
      'category',
      'sub',
      'kid',
      'stream',
      'seq',
      'Nats-Msg-Id',
    ]);
  });
});
