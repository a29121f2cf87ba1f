import type { Backend } from '../backend/backend.js';
import { policySchema, type EgressPolicyConfig } from '../egress/config.js';
import { EnvironmentError } from '../errors.js';

/**
 * Live changes to a running bottle's egress policy. The sidecar swaps the
 * rules in place: open connections stay, the next request is judged by the
 * new policy. Approvals from the supervise queue use the same path.
 */

export async function currentPolicy(backend: Backend, slug: string): Promise<EgressPolicyConfig> {
  const reply = await backend.egressControl(slug, 'show');
  if (!reply.ok) {
    throw new EnvironmentError(
      `the egress proxy of ${slug} did not show its policy: ${reply.error}`,
    );
  }
  const parsed = policySchema.safeParse(reply.policy);
  if (!parsed.success) {
    throw new EnvironmentError(`the egress proxy of ${slug} answered with an unreadable policy`);
  }
  return parsed.data;
}

export async function updatePolicy(
  backend: Backend,
  slug: string,
  change: (p: EgressPolicyConfig) => EgressPolicyConfig,
): Promise<{ before: EgressPolicyConfig; after: EgressPolicyConfig }> {
  const before = await currentPolicy(backend, slug);
  const after = { ...change(before), revision: before.revision + 1 };
  const reply = await backend.egressControl(slug, 'set-policy', JSON.stringify(after));
  if (!reply.ok) {
    throw new EnvironmentError(
      `the egress proxy of ${slug} refused the new policy: ${reply.error}`,
    );
  }
  return { before, after };
}
