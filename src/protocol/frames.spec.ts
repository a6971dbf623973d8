// Every encoder's text parses to a value of the type it names: the expected values are typed, so a
// field renamed in an interface or in an encoder fails here (tsc or the assertion).
import {
  type AuthRefusedFrame,
  type DuplicateEvent,
  type DuplicateFrame,
  type ErrorFrame,
  type EventRecord,
  type HelloFrame,
  INVALID_SEQ_ACK,
  INVALID_TOKEN_REPLY,
  type InvalidSeqFrame,
  type InvalidTokenFrame,
  MALFORMED_ACK,
  type MalformedEvent,
  type MonitorFrame,
  type QuarantinedFrame,
  RATE_LIMITED,
  type ReceivedEvent,
  type RefreshedReply,
  type ResumeFrame,
  type SeqAckFrame,
  type StatsFrame,
  UNAVAILABLE_ACK,
  type AckFrame,
  duplicateReply,
  encodeAck,
  encodeAuthRefused,
  encodeEvent,
  encodeHello,
  encodeStats,
  quarantinedReply,
  receivedWithSeq,
  refreshedReply,
  resumeFrame,
} from './index.js';

const parsed = (text: string): unknown => JSON.parse(text);

function omit<T extends object, K extends keyof T>(value: T, key: K): Omit<T, K> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== key)) as Omit<T, K>;
}

describe('ingest frames', () => {
  it('encode acks, errors and the resumable replies as their types', () => {
    const ack: AckFrame = { status: 'received', server_timestamp: 1.5, message_id: 7 };
    expect(parsed(encodeAck({ messageId: 7, timestamp: '1.500' }))).toEqual(ack);
    const errors: ErrorFrame[] = [
      { status: 'error', message: 'Malformed JSON' },
      { status: 'error', message: 'Service unavailable' },
      { status: 'error', message: 'Rate limit exceeded' },
    ];
    expect(
      [encodeAck({ messageId: null, timestamp: '1' }), UNAVAILABLE_ACK, RATE_LIMITED].map(parsed),
    ).toEqual(errors);
    expect(parsed(MALFORMED_ACK)).toEqual(errors[0]);
    const resume: ResumeFrame = { type: 'resume', stream: 's-1', last_seq: 4 };
    expect(parsed(resumeFrame('s-1', 4))).toEqual(resume);
    const seqAck: SeqAckFrame = { status: 'received', server_timestamp: 2, message_id: 9, seq: 5 };
    expect(parsed(receivedWithSeq('2.000', 9, 5))).toEqual(seqAck);
    const duplicate: DuplicateFrame = { status: 'duplicate', server_timestamp: 2, seq: 3 };
    expect(parsed(duplicateReply('2.000', 3))).toEqual(duplicate);
    const invalidSeq: InvalidSeqFrame = { status: 'error', message: 'Invalid seq' };
    expect(parsed(INVALID_SEQ_ACK)).toEqual(invalidSeq);
  });

  it('encode the quarantine ack and the refresh replies as their types', () => {
    const quarantined: QuarantinedFrame = {
      status: 'quarantined',
      server_timestamp: 3,
      message_id: 4,
      seq: 2,
      errors: ['/x must be number'],
    };
    expect(parsed(quarantinedReply('3.000', 4, 2, ['/x must be number']))).toEqual(quarantined);
    const seedQuarantined = omit(quarantined, 'seq');
    expect(parsed(quarantinedReply('3.000', 4, undefined, ['/x must be number']))).toEqual(seedQuarantined);
    const refreshed: RefreshedReply = { type: 'refreshed', exp: 1_900_000_000 };
    expect(parsed(refreshedReply(1_900_000_000))).toEqual(refreshed);
    const invalid: InvalidTokenFrame = { status: 'error', message: 'Invalid token' };
    expect(parsed(INVALID_TOKEN_REPLY)).toEqual(invalid);
  });
});

describe('monitor frames', () => {
  const route = { pathJson: '["client","ingest","ack"]', category: 'touch' };
  const base: EventRecord = {
    messageId: 5,
    clientId: 'c1',
    timestamp: '1.250',
    route,
    size: 12,
    text: '{"x":[1,2]}',
  };

  it('encode hello, stats and refused claims as MonitorFrames', () => {
    const hello: HelloFrame = {
      type: 'hello',
      app: { name: 'CBSA', version: '1.0.0' },
      started_at: '2026-01-01T00:00:00.000Z',
      flow_map: '/event-flow-map',
      endpoints: { ingest: '/ws/behaviour', monitor: '/ws/monitor', flow_map: '/event-flow-map' },
      nodes: { client: 1 },
      replay: { events: 200, scope: 'instance' },
    };
    const helloFields = omit(hello, 'type');
    expect(parsed(encodeHello(helloFields))).toEqual(hello);
    const stats: StatsFrame = {
      type: 'stats',
      active_connections: 1,
      active_monitors: 1,
      total_messages: 2,
      total_errors: 0,
      messages_per_second: 2,
      total_duplicates: 0,
      total_gaps: 0,
      resumes: 0,
      dropped: 0,
      state_evictions: 0,
      instances: [{ id: 'a', active_connections: 1, total_messages: 2, messages_per_second: 2 }],
      nodes: { client: 2 },
    };
    const statsFields = omit(stats, 'type');
    expect(parsed(encodeStats(statsFields))).toEqual(stats);
    const refused: AuthRefusedFrame = {
      type: 'auth_refused',
      claims: [{ stream: 's-1', sub: null, reason: 'missing', at: 5 }],
    };
    expect(parsed(encodeAuthRefused(refused.claims))).toEqual(refused);
    const frames: MonitorFrame[] = [hello, stats, refused];
    expect(frames.map((f) => f.type)).toEqual(['hello', 'stats', 'auth_refused']);
  });

  it('encode each kind of event as its MonitorEvent type', () => {
    const received: ReceivedEvent = {
      message_id: 5,
      client_id: 'c1',
      status: 'received',
      server_timestamp: 1.25,
      path: ['client', 'ingest', 'ack'],
      category: 'touch',
      size: 12,
      stream: 's-1',
      seq: 3,
      gap: 1,
      resumed: true,
      sub: 'alice',
      data: { x: [1, 2] },
    };
    expect(
      parsed(encodeEvent({ ...base, stream: 's-1', seq: 3, gap: 1, resumed: true, sub: 'alice' })),
    ).toEqual(received);
    const quarantined: ReceivedEvent = {
      message_id: 5,
      client_id: 'c1',
      status: 'quarantined',
      server_timestamp: 1.25,
      path: ['client', 'ingest', 'ack'],
      category: 'touch',
      size: 12,
      data: { x: [1, 2] },
      policy: { dropped: ['a'], hashed: [], rounded: [] },
      errors: ['/x must be string'],
    };
    expect(
      parsed(
        encodeEvent({
          ...base,
          quarantine: ['/x must be string'],
          policyMarks: '{"dropped":["a"],"hashed":[],"rounded":[]}',
        }),
      ),
    ).toEqual(quarantined);
    const truncated: ReceivedEvent = {
      message_id: 5,
      client_id: 'c1',
      status: 'received',
      server_timestamp: 1.25,
      path: ['client', 'ingest', 'ack'],
      category: 'touch',
      size: 12,
      truncated: true,
      preview: '{"x":[1,2]}',
    };
    expect(parsed(encodeEvent(base, 10))).toEqual(truncated);
    const malformed: MalformedEvent = {
      message_id: null,
      client_id: 'c1',
      status: 'error',
      server_timestamp: 1.25,
      path: ['client', 'ingest', 'error'],
      category: null,
      size: 5,
      error: 'Malformed JSON',
      preview: '{oops',
    };
    const bad: EventRecord = {
      ...base,
      messageId: null,
      route: { pathJson: '["client","ingest","error"]', category: null },
      size: 5,
      text: '{oops',
    };
    expect(parsed(encodeEvent(bad))).toEqual(malformed);
    const malformedWithoutData = omit(malformed, 'preview');
    expect(parsed(encodeEvent(bad, Infinity, false))).toEqual(malformedWithoutData);
    const duplicate: DuplicateEvent = {
      message_id: null,
      client_id: 'c1',
      status: 'duplicate',
      server_timestamp: 1.25,
      path: ['client', 'ingest', 'ack'],
      category: 'touch',
      size: 12,
      stream: 's-1',
      seq: 2,
      data: { x: [1, 2] },
    };
    const resent: EventRecord = { ...base, messageId: null, duplicate: true, stream: 's-1', seq: 2 };
    expect(parsed(encodeEvent(resent))).toEqual(duplicate);
    const duplicateWithoutData = omit(duplicate, 'data');
    expect(parsed(encodeEvent(resent, Infinity, false))).toEqual(duplicateWithoutData);
  });
});
