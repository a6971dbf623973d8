import type { IncomingMessage } from 'node:http';
import { bearerWithoutVersion, owns, presentedToken, selectProtocol, validSubject } from './credentials.js';

const request = (url: string, headers: Record<string, string> = {}) =>
  ({
    url,
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
  }) as IncomingMessage;

describe('stream ownership', () => {
  it.each([
    ['install-42', 'install-42', true],
    ['install-42', 'install-42:session-1', true],
    ['install-42', 'install-42:a:b', true],
    ['install-42', 'install-4', false],
    ['install-4', 'install-42', false],
    ['install-4', 'install-42:session-1', false],
    ['install-42', 'install-42-evil', false],
    ['install-42', 'x:install-42', false],
    ['a:b', 'a:b:c', true],
    ['a:b', 'a:bc', false],
  ])('%s owns %s: %s', (sub, stream, expected) => {
    expect(owns(sub, stream)).toBe(expected);
  });

  it('takes subjects of the stream-id alphabet only', () => {
    expect([validSubject('device-1'), validSubject('a@b.c:d_e'), validSubject('x'.repeat(200))]).toEqual([
      true,
      true,
      true,
    ]);
    expect([validSubject(''), validSubject('a b'), validSubject('x'.repeat(201)), validSubject(7)]).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe(presentedToken.name, () => {
  it('reads the bearer header first, then the bearer subprotocol, then ?token= when allowed', () => {
    expect(presentedToken(request('/?token=q', { Authorization: 'Bearer h' }), true)).toEqual({
      token: 'h',
      queryRefused: false,
    });
    expect(
      presentedToken(request('/?token=q', { 'Sec-WebSocket-Protocol': 'cbsa.v1, cbsa.bearer.p' }), true),
    ).toEqual({ token: 'p', queryRefused: false });
    expect(presentedToken(request('/?token=q'), true)).toEqual({ token: 'q', queryRefused: false });
    expect(presentedToken(request('/?token=q'), false)).toEqual({ token: undefined, queryRefused: true });
    expect(presentedToken(request('/'), false)).toEqual({ token: undefined, queryRefused: false });
  });
});

describe(selectProtocol.name, () => {
  it('selects cbsa.v1, never a bearer subprotocol', () => {
    expect(selectProtocol(new Set(['cbsa.bearer.x', 'cbsa.v1']))).toBe('cbsa.v1');
    expect(selectProtocol(new Set(['cbsa.bearer.x']))).toBe(false);
    expect(selectProtocol(new Set(['graphql-ws']))).toBe('graphql-ws');
    expect(selectProtocol(new Set())).toBe(false);
  });

  it('tells a bearer subprotocol offered without cbsa.v1', () => {
    expect(bearerWithoutVersion(request('/', { 'Sec-WebSocket-Protocol': 'cbsa.bearer.x' }))).toBe(true);
    expect(bearerWithoutVersion(request('/', { 'Sec-WebSocket-Protocol': 'cbsa.bearer.x, cbsa.v1' }))).toBe(
      false,
    );
    expect(bearerWithoutVersion(request('/'))).toBe(false);
  });
});
