import { natsCredentials } from './credentials.js';

describe(natsCredentials.name, () => {
  it('lifts the user and password out of the server URLs', () => {
    expect(natsCredentials(['nats://cbsa:p%40ss@n1:4222', 'tls://n2:4222'])).toEqual({
      servers: ['nats://n1:4222', 'tls://n2:4222'],
      user: 'cbsa',
      pass: 'p@ss',
    });
  });

  it('leaves URLs without credentials as they are', () => {
    expect(natsCredentials(['nats://127.0.0.1:4222'])).toEqual({ servers: ['nats://127.0.0.1:4222'] });
  });
});
