import { RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { desiredStream, incompatibilities, subjectMatches } from './nats-stream-config.js';

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
      'its max age is 0 s (NATS_MAX_AGE_S=604800)',
    ]);
  });
});
