import { claude } from './claude.js';
import { codex } from './codex.js';
import { pi } from './pi.js';
import type { ApiWire, Provider } from './provider.js';

export {
  GUEST_HOME,
  GUEST_USER,
  GUEST_WORKSPACE,
  type ApiWire,
  type Provider,
} from './provider.js';

/**
 * Every agent CLI bot-bottle can run, one line each; the key is the
 * `provider:` value of an agent file. Adding a CLI: docs/providers.md.
 */
export const PROVIDER_REGISTRY = {
  claude,
  codex,
  pi,
} as const satisfies Record<string, Provider>;

export type ProviderName = keyof typeof PROVIDER_REGISTRY;

/** The provider names in registry order (the manifest schema's enum). */
export const PROVIDER_NAMES = Object.keys(PROVIDER_REGISTRY) as [ProviderName, ...ProviderName[]];

/** The provider object for a validated name. */
export const providerOf = (name: ProviderName): Provider => PROVIDER_REGISTRY[name];

/** The same table under the name the planner and the launch have always used. */
export const PROVIDER_INFO: Record<ProviderName, Provider> = PROVIDER_REGISTRY;

/** The vendors' public APIs, used when no bottle sets `api`. */
export const DEFAULT_API: Record<ApiWire, string> = {
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com',
};
