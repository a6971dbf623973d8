// The monitor page's side panel names what the field policy did to an event, and that its data is
// withheld under MONITOR_DATA=none (public/js/feed.js).
import { privacyFields } from '../../public/js/feed.js';
import type { MonitorEvent } from '../protocol/index.js';

/** Only the fields the panel reads: privacyFields takes whatever a MonitorEvent carries. */
const event = (fields: Partial<MonitorEvent>) => fields as MonitorEvent;

describe('monitor page privacy marks', () => {
  it("lists redacted, hashed and rounded fields from the event's policy marks", () => {
    expect(
      privacyFields(
        event({
          data: { dwell_ms: 80 },
          policy: { dropped: ['key', 'char'], hashed: ['user_id'], rounded: [] },
        }),
      ),
    ).toEqual([
      ['Redacted', 'key, char'],
      ['Hashed', 'user_id (HMAC-SHA256)'],
    ]);
  });

  it('says the data is not shown when an event carries none (MONITOR_DATA=none)', () => {
    expect(privacyFields(event({ status: 'received' }))).toEqual([['Data', 'not shown (MONITOR_DATA=none)']]);
    expect(privacyFields(event({ status: 'received', data: { a: 1 } }))).toEqual([]);
    expect(privacyFields(event({ status: 'error', preview: '{' }))).toEqual([]);
  });
});
