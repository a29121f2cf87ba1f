import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { CREDENTIAL_HEADERS } from '../decide/request.js';
import type { ProxyState, Target } from '../types.js';

/** Headers meant for one hop only (RFC 9110 7.6.1) and the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Outgoing headers: hop-by-hop removed, the route's credentials in place of the agent's. */
export function upstreamHeaders(
  state: ProxyState,
  req: IncomingMessage,
  t: Target,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const drop = new Set(
    (req.headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()),
  );
  const routed = state.routeValues.get(t.host);
  if (routed !== undefined) for (const h of CREDENTIAL_HEADERS) drop.add(h);
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || drop.has(k)) continue;
    out[k] = v;
  }
  if (routed !== undefined) {
    for (const [name, value] of routed) out[name.toLowerCase()] = value;
  }
  return out;
}

export function responseHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}
