import { hostnameFinding } from '../dlp.js';
import { decideHost } from '../policy.js';
import { forbiddenRange, ipLiteral } from '../ssrf.js';
import type { ProxyState } from '../types.js';
import { refusal, type Refuse } from './verdict.js';

/** A host the policy lets through; `passthrough`: tunnelled without interception. */
export interface HostAllow {
  kind: 'allow';
  rule: string;
  passthrough: boolean;
}

/** Split `host:port` (IPv6 in brackets) from a CONNECT target or Host header. */
export function splitAuthority(
  authority: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/@]+))(?::(\d{1,5}))?$/.exec(authority);
  if (m === null) return undefined;
  const host = normaliseHostName(m[1] ?? m[2] ?? '');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (host === '' || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** Case and one trailing dot do not make another host (`Example.COM.` is `example.com`). */
export function normaliseHostName(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/** Host-level verdict, with literal private addresses named as such. */
export function hostVerdict(
  state: ProxyState,
  t: { host: string; port: number },
): HostAllow | Refuse {
  const { policy } = state;
  const literal = ipLiteral(t.host);
  if (literal !== undefined && policy.hosts[t.host] === undefined) {
    const range = forbiddenRange(literal);
    if (range !== undefined) {
      return refusal(`private-address ${range}`, `${t.host} is a ${range} address`);
    }
  }
  const v = decideHost(policy, t.host, t.port);
  if (!v.allowed) return refusal(v.rule, v.why);
  const allow: HostAllow = { kind: 'allow', rule: v.rule, passthrough: v.passthrough };
  // An exact allow entry is the operator naming the host; a wildcard lets the agent pick sub-domains.
  if (!v.rule.startsWith('allow *.') || policy.hosts[t.host] !== undefined) return allow;
  const odd = hostnameFinding(t.host);
  if (odd === undefined) return allow;
  return refusal('dlp hostname-encoding', `the host name looks like a data channel (${odd})`);
}

/**
 * The TLS server name must name the host the tunnel was opened for, so a
 * tunnel to an allowed host cannot carry requests meant for another.
 * Absent SNI (clients may omit it) is judged by the Host header instead.
 */
export function sniVerdict(
  connectHost: string,
  servername: string | undefined,
): { kind: 'allow' } | Refuse {
  const sni = servername ?? '';
  if (sni === '' || normaliseHostName(sni) === connectHost) return { kind: 'allow' };
  return refusal(
    'sni-mismatch',
    `TLS server name '${sni.toLowerCase()}' differs from the CONNECT host`,
  );
}

/** The Host header must name the connection's host and port. */
export function hostHeaderVerdict(
  t: { scheme: 'http' | 'https'; host: string; port: number },
  hostHeader: string | undefined,
): { kind: 'allow' } | Refuse {
  const h = splitAuthority(hostHeader ?? '', t.scheme === 'https' ? 443 : 80);
  if (h?.host === t.host && h.port === t.port) return { kind: 'allow' };
  return refusal(
    'host-mismatch',
    `Host header '${hostHeader ?? ''}' differs from the connection's host ${t.host}:${t.port}`,
  );
}
