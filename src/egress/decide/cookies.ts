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
  return state.scanner.alsoFor(
    state.cookies.foreignTo(host).map((c) => ({
      kind: 'cross-site-cookie',
      label: `a cookie of ${c.site}`,
      forms: c.forms,
    })),
  );
}
