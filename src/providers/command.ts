import type { ProviderName } from './registry.js';
import { providerOf } from './registry.js';
import type { AgentCommandRequest, AgentInvocation } from './provider.js';

export type { AgentCommandRequest, AgentInvocation } from './provider.js';

/**
 * How the agent CLI runs inside the bottle: its provider's argv (see
 * Provider.command). Nothing is ever spliced into a shell string.
 */
export function agentCommand(provider: ProviderName, req: AgentCommandRequest): AgentInvocation {
  return providerOf(provider).command(req);
}
