import { isIP } from 'node:net';

/**
 * The key the per-address cap counts under: the IPv4 address, or the /64 of an IPv6 address (one
 * subscriber usually holds a whole /64, so counting single IPv6 addresses would not cap anything).
 * IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function addressGroup(address: string): string {
  const ip = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (isIP(ip) !== 6) return ip;
  const groups = (part: string) =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [head, tail] = ip.split('::');
  const first = groups(head);
  const all =
    tail === undefined
      ? first
      : [...first, ...Array<string>(8 - first.length - groups(tail).length).fill('0'), ...groups(tail)];
  return (
    all
      .slice(0, 4)
      .map((g) => parseInt(g, 16).toString(16))
      .join(':') + '::/64'
  );
}
