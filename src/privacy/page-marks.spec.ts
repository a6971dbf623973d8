// The monitor page's side panel names what the field policy did to an event, and that its data is
// withheld under MONITOR_DATA=none (public/js/feed.js).
import { privacyFields } from '../../public/js/feed.js';

describe('monitor page privacy marks', () => {
  it("lists redacted, hashed and rounded fields from the event's policy marks", () => {
    expect(
      privacyFields({
        data: { dwell_ms: 80 },
        policy: { dropped: ['key', 'char'], hashed: ['user_id'], rounded: [] },
      }),
    ).toEqual([
      ['Redacted', 'key, char'],
      ['Hashed', 'user_id (HMAC-SHA256)'],
    ]);
  });

  it('says the data is not shown when an event carries none (MONITOR_DATA=none)', () => {
    expect(privacyFields({ status: 'received' })).toEqual([['Data', 'not shown (MONITOR_DATA=none)']]);
    expect(privacyFields({ status: 'received', data: { a: 1 } })).toEqual([]);
    expect(privacyFields({ status: 'error', preview: '{' })).toEqual([]);
  });
});
