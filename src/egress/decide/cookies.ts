import type { Scanner } from '../dlp.js';
import type { ProxyState } from '../types.js';

/**
 * The scanner for one request to `host`: the bottle's scanner, also looking
 * for every cookie value another site set on this bottle (the cookie
 * ledger). What it finds is a `cross-site-cookie` finding like any other,
 * so `enforce` refuses it, `audit` flags it, and on the bottle's LLM API it
 * is redacted (the value is known, so it can always be located) or refused
 * in the API's shape when it cannot be replaced in place.
 */
export function scannerFor(state: ProxyState, host: string): Scanner {
  // Asked at least twice a request and once a streamed chunk or WebSocket message: build it
  // again only when the ledger learnt a cookie (or the state, hence the scanner, was replaced).
  let byHost = built.get(state);
  if (byHost === undefined) {
    byHost = new Map();
    built.set(state, byHost);
  }
  const version = state.cookies.version;
  const cached = byHost.get(host);
  if (cached?.version === version) return cached.scanner;
  const scanner = state.scanner.alsoFor(
    state.cookies.foreignTo(host).map((c) => ({
      kind: 'cross-site-cookie',
      label: `a cookie of ${c.site}`,
      forms: c.forms,
    })),
  );
  // Bounded: one entry per host this bottle talks to, dropped with its state.
  if (byHost.size >= MAX_HOSTS) byHost.clear();
  byHost.set(host, { version, scanner });
  return scanner;
}

const MAX_HOSTS = 256;
const built = new WeakMap<ProxyState, Map<string, { version: number; scanner: Scanner }>>();
