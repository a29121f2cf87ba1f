import type { IncomingHttpHeaders } from 'node:http';
import type { Finding } from '../dlp.js';
import type { ProxyState, Target } from '../types.js';
import { hostHeaderVerdict, hostVerdict, sniVerdict } from './host.js';
import { scannerFor } from './cookies.js';
import { pathVerdict } from './path.js';
import { isRefusal, type Refuse } from './verdict.js';

/** Credential headers an agent may send with a placeholder; dropped where a route injects. */
export const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'];

/** What the transport knows of a request (or WebSocket upgrade) once its head has arrived. */
export interface RequestFacts {
  target: Target;
  /** The TLS server name the agent sent on this connection (https only). */
  servername: string | undefined;
  method: string;
  /** Path and query as the agent sent them. */
  rawTarget: string;
  headers: IncomingHttpHeaders;
}

/** A request head that may go on: what to send and what the scanner saw in it. */
export interface RequestAllow {
  kind: 'allow';
  /** The rule that let it through (the path rule, else the host's allow entry). */
  rule: string;
  /** Path and query to send upstream. */
  target: string;
  /** Secret-looking things in the URL and headers (judged by `findingsVerdict`). */
  findings: Finding[];
}

/**
 * Checks that apply to every request and WebSocket upgrade inside a target,
 * in order: TLS server name, host, Host header, method/path rules; then the
 * URL and headers are scanned (the route's own credential headers skipped),
 * also for cookies another site set.
 */
export function requestVerdict(state: ProxyState, f: RequestFacts): RequestAllow | Refuse {
  const t = f.target;
  if (t.scheme === 'https') {
    const sni = sniVerdict(t.host, f.servername);
    if (isRefusal(sni)) return sni;
  }
  const hv = hostVerdict(state, t);
  if (isRefusal(hv)) return hv;
  const hh = hostHeaderVerdict(t, f.headers.host);
  if (isRefusal(hh)) return hh;
  const pv = pathVerdict(state, {
    host: t.host,
    port: t.port,
    method: f.method,
    rawTarget: f.rawTarget,
  });
  if (isRefusal(pv)) return pv;
  const routed = state.routeValues.get(t.host);
  const skip = new Set<string>([
    'host',
    ...(routed === undefined ? [] : [...CREDENTIAL_HEADERS, ...routed.keys()]),
  ]);
  const scanner = scannerFor(state, t.host);
  const findings = [...scanner.scanUrl(t.host, pv.target), ...scanner.scanHeaders(f.headers, skip)];
  return { kind: 'allow', rule: pv.rule ?? hv.rule, target: pv.target, findings };
}
