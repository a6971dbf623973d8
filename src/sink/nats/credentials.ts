// NATS_URL may carry a user and password (nats://user:pass@host:4222), as operators write it; the
// NATS client takes them only as options, so they are lifted out of the server URLs here.

export interface NatsServersAndCredentials {
  servers: string[];
  user?: string;
  pass?: string;
}

/** The servers without credentials, and the first user and password any of them carried. */
export function natsCredentials(urls: readonly string[]): NatsServersAndCredentials {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = urls.map((raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return raw;
    }
    if (url.username === '' && url.password === '') return raw;
    user ??= decodeURIComponent(url.username);
    pass ??= decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  });
  return { servers, ...(user !== undefined && { user, pass }) };
}
