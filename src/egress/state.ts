import { LeafMinter } from './ca.js';
import type { EgressPolicyConfig, EgressSecrets } from './config.js';
import { CookieLedger } from './cookies.js';
import { Scanner } from './dlp.js';
import type { ProxyState } from './types.js';
import { Upstream, type UpstreamOptions } from './upstream.js';

/**
 * Builds the proxy's working state from a policy and the secrets. A new
 * policy keeps the CA, the leaf cache and the upstream pools, so a live
 * rule change drops no connection and re-mints nothing. The cookie ledger
 * is always carried over: a rule change must not let a cookie one site set
 * go to another.
 */
export function buildState(
  policy: EgressPolicyConfig,
  secrets: EgressSecrets,
  previous?: ProxyState & { secrets: EgressSecrets },
  upstreamOptions: Partial<UpstreamOptions> = {},
): ProxyState & { secrets: EgressSecrets } {
  const missing = policy.routes.flatMap((r) =>
    r.headers
      .filter((h) => secrets.values[h.secret] === undefined)
      .map((h) => `${r.host} ${h.name}`),
  );
  if (missing.length > 0) {
    throw new Error(`credential route values missing for: ${missing.join(', ')}`);
  }
  const sameSecrets =
    previous?.secrets.caKeyPem === secrets.caKeyPem &&
    previous.secrets.caKeyPem === secrets.caKeyPem &&
    previous.secrets.upstreamCaPem === secrets.upstreamCaPem;
  const minter = sameSecrets
    ? previous.minter
    : new LeafMinter({ certPem: secrets.caCertPem, keyPem: secrets.caKeyPem });
  const upstream = sameSecrets
    ? previous.upstream
    : new Upstream({ ...upstreamOptions, extraCaPem: secrets.upstreamCaPem });
  upstream.hosts = policy.hosts;
  const routeValues = new Map<string, Map<string, string>>();
  for (const r of policy.routes) {
    const m = new Map<string, string>();
    for (const h of r.headers) m.set(h.name.toLowerCase(), secrets.values[h.secret] ?? '');
    routeValues.set(r.host.toLowerCase(), m);
  }
  const secretValues = [
    ...Object.values(secrets.values),
    ...[...routeValues.values()].flatMap((m) => [...m.values()]),
  ];
  return {
    policy,
    secrets,
    minter,
    upstream,
    routeValues,
    scanner: new Scanner(secretValues),
    cookies: previous?.cookies ?? new CookieLedger(),
  };
}
