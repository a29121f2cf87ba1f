import ipaddr from 'ipaddr.js';

/**
 * The private-address guard. A name the agent may reach must not lead the
 * proxy into the host, the docker networks or a cloud metadata service, so
 * every address is checked after resolution, and literal addresses are
 * recognised in every notation the resolver would accept (decimal
 * `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short `127.1`,
 * IPv4-mapped IPv6 `::ffff:127.0.0.1`).
 */

/** The address a host string denotes, if it is an IP literal in any notation. */
export function ipLiteral(host: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = host.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  // Every address notation uses only hex digits, x, dots and colons; most host
  // names fail this at once, which spares them the (slow) full parsers.
  if (!/^[0-9a-fx.:]+$/i.test(bare) || !ipaddr.isValid(bare)) return undefined;
  try {
    return ipaddr.parse(bare);
  } catch {
    return undefined;
  }
}

/**
 * Why an address must not be dialled (its range name), or undefined for a
 * public unicast address. Addresses embedding IPv4 (mapped, NAT64, 6to4,
 * Teredo) are judged by what they embed or refused outright.
 */
export function forbiddenRange(address: string | ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  if (typeof address === 'string') {
    const parsed = ipLiteral(address);
    if (parsed === undefined) return 'not-an-address';
    a = parsed;
  } else {
    a = address;
  }
  if (a.kind() === 'ipv6') {
    const v6 = a as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return forbiddenRange(v6.toIPv4Address());
  }
  const range = a.range();
  return range === 'unicast' ? undefined : range;
}

/** Canonical text of an address literal (for messages and dialling). */
export function canonical(a: ipaddr.IPv4 | ipaddr.IPv6): string {
  return a.toString();
}
