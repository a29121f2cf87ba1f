import type { BottlePlan } from '../plan/schema.js';
import { GUEST_WORKSPACE, PROVIDER_INFO } from './registry.js';
import { SUPERVISE_HOST } from '../supervise/paths.js';

/**
 * Each CLI's own configuration inside the bottle: where it finds the API,
 * the proxy and the CA bundle. Claude Code reads base URLs from the
 * environment; codex and pi ignore those variables and read their own files.
 */

/** The system bundle in every agent image; it includes the extra CAs baked in at build. */
export const GUEST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Stands in for the API key so each CLI starts without a login flow. The
 * real key never enters the bottle; the egress proxy holds it.
 */
export const PLACEHOLDER_KEY = 'bot-bottle-placeholder-key-not-a-secret';

export interface GuestFile {
  /** Relative to the agent's home directory. */
  path: string;
  content: string;
  mode: number;
}

export interface GuestSetup {
  env: Record<string, string>;
  files: GuestFile[];
}

/** TOML basic strings accept JSON's escapes for everything a URL or model name holds. */
const tomlString = (s: string): string => JSON.stringify(s);

export function providerGuestSetup(
  plan: BottlePlan,
  proxyUrl: string,
  /** Set when the supervise sidecar runs: the MCP server is reached directly, not through the proxy. */
  superviseTimeoutMs?: number,
): GuestSetup {
  const noProxy = `localhost,127.0.0.1,::1${superviseTimeoutMs === undefined ? '' : `,${SUPERVISE_HOST}`}`;
  const provider = plan.agent.provider;
  const info = PROVIDER_INFO[provider];
  const base = plan.api.baseUrl;
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
  };
  // A Claude subscription token travels as `Authorization: Bearer`; the CLI
  // sends the matching headers only when it believes it holds such a token.
  const apiHost = new URL(base).hostname.toLowerCase();
  const bearer = plan.egress.routes.some(
    (r) =>
      r.host.replace(/:\d+$/, '') === apiHost &&
      r.headers.some((h) => h.name.toLowerCase() === 'authorization'),
  );
  if (provider === 'claude' && bearer) env.CLAUDE_CODE_OAUTH_TOKEN = PLACEHOLDER_KEY;
  else env[info.keyEnv] = PLACEHOLDER_KEY;
  const files: GuestFile[] = [];
  switch (provider) {
    case 'claude':
      env.ANTHROPIC_BASE_URL = base;
      env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = '1';
      env.DISABLE_AUTOUPDATER = '1';
      // Claude Code's MCP tool calls time out on their own; an operator may take a while.
      if (superviseTimeoutMs !== undefined)
        env.MCP_TOOL_TIMEOUT = String(superviseTimeoutMs + 60_000);
      // Without these the first interactive run stops at onboarding, the
      // folder-trust dialog and the "use this API key?" question.
      files.push({
        path: '.claude.json',
        mode: 0o600,
        content: `${JSON.stringify(
          {
            hasCompletedOnboarding: true,
            bypassPermissionsModeAccepted: true,
            customApiKeyResponses: { approved: [PLACEHOLDER_KEY.slice(-20)], rejected: [] },
            projects: { [GUEST_WORKSPACE]: { hasTrustDialogAccepted: true } },
          },
          null,
          2,
        )}\n`,
      });
      break;
    case 'codex':
      env.CODEX_CA_CERTIFICATE = GUEST_CA_BUNDLE;
      files.push({
        path: '.codex/config.toml',
        mode: 0o600,
        content: [
          'model_provider = "bot-bottle"',
          ...(plan.agent.model === null ? [] : [`model = ${tomlString(plan.agent.model)}`]),
          '',
          '[model_providers.bot-bottle]',
          'name = "bot-bottle egress"',
          `base_url = ${tomlString(`${base}/v1`)}`,
          `env_key = ${tomlString(info.keyEnv)}`,
          'wire_api = "responses"',
          'supports_websockets = true',
          '',
          `[projects.${tomlString(GUEST_WORKSPACE)}]`,
          'trust_level = "trusted"',
          '',
        ].join('\n'),
      });
      break;
    case 'pi':
      files.push({
        path: '.pi/agent/models.json',
        mode: 0o600,
        content: `${JSON.stringify({ providers: { anthropic: { baseUrl: base } } }, null, 2)}\n`,
      });
      break;
  }
  return { env, files };
}
