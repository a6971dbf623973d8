import { RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { DiscardPolicy } from '@nats-io/jetstream';
import { desiredStream, evidenceLimits, incompatibilities, subjectMatches } from './stream-config.js';

const settings = {
  natsStream: 'CBSA',
  natsSubject: 'cbsa.events',
  natsReplicas: 3,
  natsDuplicateWindowS: 120,
  natsMaxAgeS: 604800,
};

describe(subjectMatches.name, () => {
  it.each([
    ['cbsa.events', 'cbsa.events', true],
    ['cbsa.*', 'cbsa.events', true],
    ['cbsa.>', 'cbsa.events', true],
    ['>', 'cbsa.events', true],
    ['cbsa.>', 'cbsa', false],
    ['cbsa.*', 'cbsa.events.x', false],
    ['cbsa.events.x', 'cbsa.events', false],
    ['other.events', 'cbsa.events', false],
  ])('%s matches %s: %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe(incompatibilities.name, () => {
  it('accepts the stream the sink creates', () => {
    expect(incompatibilities(desiredStream(settings) as StreamConfig, settings)).toEqual([]);
  });

  it('accepts a wider subject filter', () => {
    const existing = { ...desiredStream(settings), subjects: ['cbsa.>'] } as StreamConfig;
    expect(incompatibilities(existing, settings)).toEqual([]);
  });

  it('names every setting that differs', () => {
    const existing = {
      ...desiredStream(settings),
      subjects: ['x.y'],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Workqueue,
      num_replicas: 1,
      duplicate_window: nanos(2000),
      max_age: 0,
    } as StreamConfig;
    expect(incompatibilities(existing, settings)).toEqual([
      'its subjects ["x.y"] do not include NATS_SUBJECT="cbsa.events"',
      'its storage is "memory" (needs "file": memory storage is lost on restart)',
      'its retention is "workqueue" (needs "limits": events must stay until NATS_MAX_AGE_S, whatever consumers do)',
      'it has 1 replica(s) (NATS_REPLICAS=3)',
      'its duplicate window is 2 s (NATS_DUPLICATE_WINDOW_S=120)',
    ]);
  });
});

describe(evidenceLimits.name, () => {
  const stream = (extra: Partial<StreamConfig>) => ({ ...desiredStream(settings), ...extra }) as StreamConfig;

  it('finds none in the stream the sink creates, nor with a max age equal to or above the retention', () => {
    expect(evidenceLimits(stream({}), settings)).toEqual([]);
    expect(evidenceLimits(stream({ max_age: nanos(604800_000) }), settings)).toEqual([]);
    expect(evidenceLimits(stream({ max_age: nanos(2 * 604800_000) }), settings)).toEqual([]);
    expect(evidenceLimits(stream({ max_age: 0 }), { natsMaxAgeS: 0 })).toEqual([]);
  });

  it('accepts limits that refuse new events rather than delete old ones', () => {
    const refusing = stream({
      discard: DiscardPolicy.New,
      max_msgs: 10,
      max_bytes: 1000,
      max_msgs_per_subject: 5,
      discard_new_per_subject: true,
    });
    expect(evidenceLimits(refusing, settings)).toEqual([]);
  });

  it('names each limit that can delete acked events', () => {
    const deleting = stream({
      discard: DiscardPolicy.Old,
      max_msgs: 10,
      max_bytes: 1000,
      max_msgs_per_subject: 1,
      max_age: nanos(3600_000),
    });
    expect(evidenceLimits(deleting, settings)).toEqual([
      'max_msgs_per_subject is 1 (every event is on one subject: older ones are deleted)',
      'max_msgs is 10 with discard "old" (the oldest events are deleted)',
      'max_bytes is 1000 with discard "old" (the oldest events are deleted)',
      'max_age is 3600 s, shorter than the retention (NATS_MAX_AGE_S=604800)',
    ]);
    expect(evidenceLimits(stream({ max_age: nanos(60_000) }), { natsMaxAgeS: 0 })).toEqual([
      'max_age is 60 s, shorter than the retention (NATS_MAX_AGE_S=0: forever)',
    ]);
    // discard new without discard_new_per_subject still deletes per subject
    expect(evidenceLimits(stream({ discard: DiscardPolicy.New, max_msgs_per_subject: 3 }), settings)).toEqual(
      ['max_msgs_per_subject is 3 (every event is on one subject: older ones are deleted)'],
    );
  });
});
