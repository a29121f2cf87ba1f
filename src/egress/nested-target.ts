import { forbiddenRange, ipLiteral } from './ssrf.js';
import { percentDecodeRounds } from './views.js';

/**
 * A private address named inside the URL of an allowed host: a relay,
 * proxy, webhook-tester or "fetch this URL" endpoint is an SSRF channel to
 * the host, the docker networks or a cloud metadata service, whatever the
 * allowlist says about the relay. Query values and path segments are read
 * percent-decoded (repeatedly); a target is an embedded URL's host, a
 * `host:port`, or an address literal in the notations ssrf.ts accepts.
 * Inside an embedded URL every notation counts (decimal `2130706433`, hex,
 * octal, short, IPv4-mapped IPv6); a bare value must look like an address.
 */

const INTERNAL_NAMES =
  /^(?:localhost|.*\.localhost|metadata|metadata\.google\.internal|.*\.internal|instance-data(?:\.ec2\.internal)?|host\.docker\.internal|gateway\.docker\.internal|kubernetes(?:\.default(?:\.svc)?)?)\.?$/i;

function decodeAll(s: string): string {
  return percentDecodeRounds(s, 4).text;
}

/**
 * Why `host` is not a public destination, or undefined. Inside a URL every
 * notation counts; a bare value (or `value:port`) must look like an address
 * to count, a full dotted quad, IPv6 or `0x` hex, because `10.2.3` is a
 * version, `10:30` a time and `metadata` a field name.
 */
function privateHost(host: string, inUrl: boolean): string | undefined {
  const h = host.replace(/\.$/, '');
  if (inUrl ? INTERNAL_NAMES.test(h) : /^(?:localhost|.+\.localhost|.+\.internal)$/i.test(h)) {
    return `internal name ${h}`;
  }
  if (!inUrl && !/^(?:(?:[0-9a-fx]+\.){3}[0-9a-fx]+|.*:.*|0x[0-9a-f]+)$/i.test(h)) return undefined;
  const ip = ipLiteral(h);
  if (ip === undefined) return undefined;
  const range = forbiddenRange(ip);
  return range === undefined ? undefined : `${range} address ${h}`;
}

/** Host part of `[v6]:port`, `host:port` or a bare host at the start of `s`. */
function leadingHost(s: string): { host: string } {
  const v6 = /^\[([0-9a-fA-F:.]+(?:%[^\]]*)?)\](:\d+)?/.exec(s);
  if (v6?.[1] !== undefined) return { host: v6[1] };
  const m = /^([^/?#\s:@]*)(:\d{1,5})?/.exec(s);
  return { host: m?.[1] ?? '' };
}

/** Targets in one decoded value: embedded URLs' hosts, `host:port`, or the value itself. */
function targetIn(value: string): string | undefined {
  for (const m of value.matchAll(/(?:[a-z][a-z0-9+.-]{0,15}:)?\/\/(?:[^\s/?#@]*@)?([^\s/?#]+)/gi)) {
    const { host } = leadingHost(m[1] ?? '');
    const why = privateHost(host, true);
    if (why !== undefined) return why;
  }
  const whole = privateHost(value.trim(), false);
  if (whole !== undefined) return whole;
  const { host } = leadingHost(value.trim());
  if (host === '' || host.length > 255) return undefined;
  return privateHost(host, false);
}

export function nestedPrivateTarget(pathAndQuery: string): string | undefined {
  const q = pathAndQuery.indexOf('?');
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : (pathAndQuery.slice(q + 1).split('#')[0] ?? '');
  const values = [
    ...query.split('&').map((kv) => kv.slice(kv.indexOf('=') + 1)),
    ...path.split('/').slice(1),
  ];
  // A URL written into the path (`/fetch/http://10.0.0.5/`) spans segments: judge the decoded path too.
  values.push(decodeAll(path).replace(/^\/+/, ''));
  for (const raw of values) {
    if (raw === '') continue;
    const why = targetIn(decodeAll(raw));
    if (why !== undefined) return why;
  }
  return undefined;
}
