import { exposureWarning, hostAllowed, normalizeOrigin } from './host-check.js';

describe(hostAllowed.name, () => {
  it('allows every Host, even none, when ALLOWED_HOSTS is empty', () => {
    expect(hostAllowed('anything.example:1234', [])).toBe(true);
    expect(hostAllowed(undefined, [])).toBe(true);
  });

  it.each([
    ['monitor.example.com', true],
    ['MONITOR.Example.COM', true],
    ['monitor.example.com:8443', true],
    ['localhost:8000', true],
    ['localhost:8001', false],
    ['localhost', false],
    ['[::1]:8000', true],
    ['rebound.attacker.example', false],
    ['monitor.example.com.attacker.example', false],
    ['monitor.example.com@evil', false],
    [undefined, false],
    ['', false],
  ])('Host %p -> %p with ALLOWED_HOSTS=monitor.example.com,localhost:8000,[::1]:8000', (host, allowed) => {
    expect(hostAllowed(host, ['monitor.example.com', 'localhost:8000', '[::1]:8000'])).toBe(allowed);
  });
});

describe(normalizeOrigin.name, () => {
  it.each([
    ['HTTPS://Ops.Example.COM', 'https://ops.example.com'],
    ['https://ops.example.com:443', 'https://ops.example.com'],
    ['http://ops.example.com:80', 'http://ops.example.com'],
    ['http://ops.example.com:8080', 'http://ops.example.com:8080'],
    ['null', undefined],
    ['file:///etc/passwd', undefined],
    ['not an origin', undefined],
  ])('%s -> %p', (origin, normalized) => {
    expect(normalizeOrigin(origin)).toBe(normalized);
  });
});

describe(exposureWarning.name, () => {
  const base = { monitorToken: undefined, allowedHosts: [], monitorEndpoint: '/ws/monitor' };

  it('warns, naming the host and what is exposed, on a non-loopback bind with no token and no hosts', () => {
    expect(exposureWarning({ ...base, host: '0.0.0.0' })).toBe(
      'HOST=0.0.0.0 is reachable from the network and neither MONITOR_TOKEN nor ALLOWED_HOSTS is set: ' +
        "anyone who can reach this port can watch every event's data on /ws/monitor, including a web page " +
        'in a browser on your network through DNS rebinding. Set MONITOR_TOKEN, or ALLOWED_HOSTS to the ' +
        'names this service is reached by.',
    );
  });

  it.each([
    [{ ...base, host: '127.0.0.1' }],
    [{ ...base, host: '::1' }],
    [{ ...base, host: 'localhost' }],
    [{ ...base, host: '0.0.0.0', monitorToken: 'a-long-enough-token' }],
    [{ ...base, host: '0.0.0.0', allowedHosts: ['monitor.example.com'] }],
  ])('stays quiet for %p', (cfg) => {
    expect(exposureWarning(cfg)).toBeUndefined();
  });
});
