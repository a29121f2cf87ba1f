import { readFileSync } from 'node:fs';
import type { EgressPolicyConfig, ConfigurePayload } from '../egress/config.js';
import type { CaMaterial } from '../egress/ca.js';
import { ConfigError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';

/**
 * The egress sidecar's configuration, derived from the plan. The policy
 * (rules, routes by name, host map) is what `bot-bottle egress show`
 * prints; the secrets (CA key, credential values) go to the sidecar's
 * tmpfs and nowhere else.
 */

/** The secrets' key for one route header. */
export const routeSecretId = (host: string, header: string): string =>
  `${host} ${header.toLowerCase()}`;

export function policyFromPlan(plan: BottlePlan, revision = 1): EgressPolicyConfig {
  return {
    slug: plan.slug,
    revision,
    mode: plan.egress.mode,
    llm: plan.egress.llm,
    ...(plan.budget.count === 'provider' ? { count: 'provider' as const } : {}),
    allow: plan.egress.allow,
    deny: plan.egress.deny,
    passthrough: plan.egress.passthrough,
    rules: plan.egress.rules.map((r) => ({
      host: r.host,
      ...(r.methods === null ? {} : { methods: r.methods }),
      ...(r.paths === null ? {} : { paths: r.paths }),
    })),
    routes: plan.egress.routes.map((r) => ({
      host: r.host,
      headers: r.headers.map((h) => ({
        name: h.name.toLowerCase(),
        secret: routeSecretId(r.host, h.name),
      })),
    })),
    hosts: Object.fromEntries(plan.egress.hosts.map((h) => [h.name, h.address])),
  };
}

/** The extra CA certificates (settings `ca.extra`, BOT_BOTTLE_EXTRA_CA_CERTS), read on the host. */
export function readCaPems(plan: BottlePlan): string[] {
  return plan.caCerts.map((c) => {
    try {
      return readFileSync(c.path, 'utf8');
    } catch (e) {
      throw new ConfigError(
        { entity: 'extra CA certificates', field: c.path },
        `cannot read ${c.path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
  });
}

export function configurePayload(
  plan: BottlePlan,
  ca: CaMaterial,
  routeValues: ReadonlyMap<string, ReadonlyMap<string, string>>,
): ConfigurePayload {
  const values: Record<string, string> = {};
  for (const [host, headers] of routeValues) {
    for (const [name, value] of headers) values[routeSecretId(host, name)] = value;
  }
  return {
    policy: policyFromPlan(plan),
    secrets: {
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      upstreamCaPem: readCaPems(plan).join('\n'),
      values,
    },
  };
}
