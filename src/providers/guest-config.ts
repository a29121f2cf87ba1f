import type { BottlePlan } from '../plan/schema.js';
import { SUPERVISE_HOST } from '../supervise/paths.js';
import { GUEST_CA_BUNDLE, type GuestSetup } from './provider.js';
import { providerOf } from './registry.js';

export { GUEST_CA_BUNDLE, PLACEHOLDER_KEY, type GuestFile, type GuestSetup } from './provider.js';

/**
 * Each CLI's configuration inside the bottle: the proxy and CA variables
 * every bottle sets, then the provider's placeholder credential, its
 * background-traffic switches and its own files (where it finds the API).
 */
export function providerGuestSetup(
  plan: BottlePlan,
  proxyUrl: string,
  /** Set when the supervise sidecar runs: the MCP server is reached directly, not through the proxy. */
  superviseTimeoutMs?: number,
): GuestSetup {
  const noProxy = `localhost,127.0.0.1,::1${superviseTimeoutMs === undefined ? '' : `,${SUPERVISE_HOST}`}`;
  const provider = providerOf(plan.agent.provider);
  const base = plan.api.baseUrl;
  const apiHost = new URL(base).hostname.toLowerCase();
  const bearer = plan.egress.routes.some(
    (r) =>
      r.host.replace(/:\d+$/, '') === apiHost &&
      r.headers.some((h) => h.name.toLowerCase() === 'authorization'),
  );
  const own = provider.guest({
    baseUrl: base,
    model: plan.agent.model,
    superviseTimeoutMs,
  });
  const env: Record<string, string> = {
    HTTPS_PROXY: proxyUrl,
    HTTP_PROXY: proxyUrl,
    https_proxy: proxyUrl,
    http_proxy: proxyUrl,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    NODE_EXTRA_CA_CERTS: GUEST_CA_BUNDLE,
    SSL_CERT_FILE: GUEST_CA_BUNDLE,
    GIT_SSL_CAINFO: GUEST_CA_BUNDLE,
    REQUESTS_CA_BUNDLE: GUEST_CA_BUNDLE,
    ...provider.credentialEnv(bearer),
    ...provider.backgroundOff,
    ...own.env,
  };
  return { env, files: own.files };
}
