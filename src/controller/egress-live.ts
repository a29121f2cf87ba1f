import type { Backend } from '../backend/backend.js';
import { policySchema, type EgressPolicyConfig, type PolicyUpdate } from '../egress/config.js';
import { firstMatch } from '../egress/host-match.js';
import { routeSecretId } from './egress.js';
import { EnvironmentError, UsageError } from '../errors.js';

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
  values?: Readonly<Record<string, string>>,
): Promise<{ before: EgressPolicyConfig; after: EgressPolicyConfig }> {
  const before = await currentPolicy(backend, slug);
  const after = { ...change(before), revision: before.revision + 1 };
  const update: PolicyUpdate = { policy: after, ...(values === undefined ? {} : { values }) };
  const reply = await backend.egressControl(slug, 'set-policy', JSON.stringify(update));
  if (!reply.ok) {
    throw new EnvironmentError(
      `the egress proxy of ${slug} refused the new policy: ${reply.error}`,
    );
  }
  return { before, after };
}

/**
 * Give a running bottle a credential header for `host` (other headers of
 * an existing route stay; one of the same name is replaced):
 * the values were resolved on the host and go to the sidecar's tmpfs only.
 * The host must already be allowed, as for routes in a bottle file.
 */
export async function setRoute(
  backend: Backend,
  slug: string,
  host: string,
  headers: ReadonlyMap<string, string>,
): Promise<{ before: EgressPolicyConfig; after: EgressPolicyConfig }> {
  const current = await currentPolicy(backend, slug);
  if (
    firstMatch(current.allow, host) === undefined ||
    firstMatch(current.deny, host) !== undefined
  ) {
    throw new UsageError(
      `${host} is not allowed in bottle ${slug}, so a credential route for it would never be used`,
      `bot-bottle egress allow ${slug} ${host} first`,
    );
  }
  const values: Record<string, string> = {};
  for (const [name, value] of headers) values[routeSecretId(host, name)] = value;
  return updatePolicy(
    backend,
    slug,
    (p) => ({
      ...p,
      routes: [
        ...p.routes.filter((r) => r.host !== host),
        {
          host,
          headers: [
            ...(p.routes.find((r) => r.host === host)?.headers ?? []).filter(
              (h) => !headers.has(h.name.toLowerCase()),
            ),
            ...[...headers.keys()].map((name) => ({
              name: name.toLowerCase(),
              secret: routeSecretId(host, name),
            })),
          ],
        },
      ],
    }),
    values,
  );
}

/** Remove the credential route for `host` from a running bottle. */
export async function removeRoute(
  backend: Backend,
  slug: string,
  host: string,
): Promise<{ before: EgressPolicyConfig; after: EgressPolicyConfig }> {
  return updatePolicy(backend, slug, (p) => {
    if (!p.routes.some((r) => r.host === host)) {
      throw new UsageError(`bottle ${slug} has no credential route for ${host}`);
    }
    return { ...p, routes: p.routes.filter((r) => r.host !== host) };
  });
}
