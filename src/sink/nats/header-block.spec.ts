import { MsgHdrsImpl } from '@nats-io/transport-node';
import { INSTANCE_ID } from '../../cluster/instance-id.js';
import type { SinkEntry } from '../stream-log.js';
import { natsHeaderBlock } from './publisher.js';

const entry: SinkEntry = {
  stream: 'app-1:device@42',
  seq: 17,
  messageId: 1234567,
  clientId: 'Ab-_9xYz0123',
  timestamp: '1764337000.123',
  category: 'touch',
  data: '{"seq":17}',
};

/** The header set as the client's own API builds it. */
function viaClient(e: SinkEntry): string {
  const h = new MsgHdrsImpl();
  h.append('message_id', String(e.messageId));
  h.append('client_id', e.clientId);
  h.append('server_timestamp', e.timestamp);
  h.append('category', e.category);
  h.append('sub', e.sub ?? '');
  h.append('kid', e.kid ?? '');
  if (e.stream !== '') {
    h.append('stream', e.stream);
    h.append('seq', String(e.seq));
  }
  h.append('Nats-Msg-Id', e.stream !== '' ? `${e.stream}:${e.seq}` : `${INSTANCE_ID}:${e.messageId}`);
  return h.toString();
}

describe(natsHeaderBlock.name, () => {
  it.each([
    ['a resumable entry', entry],
    ['an entry without a stream', { ...entry, stream: '', seq: 0 }],
    ['an entry without a category', { ...entry, category: '' }],
    ['an entry with its provenance (JWT mode)', { ...entry, sub: 'app-1', kid: 'key-2026.12' }],
  ])('is byte for byte the header set the client would build, for %s', (_, e) => {
    expect(natsHeaderBlock(e)).toBe(viaClient(e));
  });
});
