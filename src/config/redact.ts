// Keeps secrets out of errors and logs: credentials in URLs, and secret values as a whole.

// A list of URLs is split only where a new scheme starts, so a comma inside a password stays inside it.
const NEXT_URL = /,(?=\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)/;
// Greedy to the last '@': a password may hold an unescaped '@', '/', '?' or '#'.
const USER_INFO = /^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^]*@/;
const SECRET_PARAM = /([?&](?:password|pass|token|auth_token|user|username)=)[^&#]*/gi;

/** Replaces the user info and password parameters of each URL in a (comma-separated) list. */
export function redactUrl(url: string): string;
export function redactUrl(url: string | undefined): string | undefined;
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  return url
    .split(NEXT_URL)
    .map((one) =>
      one
        .replace(USER_INFO, (_m, scheme: string | undefined) => `${scheme ?? ''}[redacted]@`)
        .replace(SECRET_PARAM, '$1[redacted]'),
    )
    .join(',');
}
