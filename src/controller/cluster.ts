import { relative } from 'node:path';
import {
  CONTROLLER_IMAGE,
  type ClusterBottleSpec,
  type ClusterSecrets,
} from '../backend/backend.js';
import { createCa } from '../egress/ca.js';
import { UsageError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';
import { providerGuestSetup, type GuestSetup } from '../providers/guest-config.js';
import { GUEST_HOME } from '../providers/registry.js';
import { policyFromPlan, readCaPems, routeSecretId } from './egress.js';
import { launchDocument } from './pod-launch.js';
import { newIdentity } from './state.js';
import { resolveEnv, resolveRoutes, type SecretAsker } from './values.js';

/**
 * A plan as the facts a cluster rendering needs (ClusterBottleSpec), and,
 * for an apply, the secret values resolved on the host. Nothing here talks
 * to a cluster.
 */

/** The `start` options that shape a cluster bottle. */
export interface ClusterOptions {
  namespace: string;
  runtimeClassName: string | null;
  template: boolean;
  images: {
    agent?: string | undefined;
    egress?: string | undefined;
    controller?: string | undefined;
  };
  ledgerCidrs: readonly string[];
}

export const DEFAULT_NAMESPACE = 'default';
/** gVisor's RuntimeClass name on GKE Sandbox and in gVisor's own install guide. */
export const DEFAULT_RUNTIME_CLASS = 'gvisor';

/**
 * The shared store's URL. A cluster pod has no host ledger, so a cluster
 * bottle cannot start without one.
 */
export function ledgerUrl(env: NodeJS.ProcessEnv): string {
  const url = env.BOT_BOTTLE_LEDGER_URL;
  if (url === undefined || url.trim() === '') {
    throw new UsageError(
      'the kubernetes backend needs a shared ledger store: a pod in the cluster has no host ledger to meter and admit against',
      'set BOT_BOTTLE_LEDGER_URL to the shared Postgres store (postgres://user:password@host:5432/db)',
    );
  }
  return url.trim();
}

/** Host and port of the ledger URL (for the proxy pod's NetworkPolicy rule); never the password. */
export function ledgerEndpoint(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError('BOT_BOTTLE_LEDGER_URL is not a URL (expected postgres://host:port/db)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UsageError(
      `BOT_BOTTLE_LEDGER_URL: the shared store is Postgres (postgres://...), got ${u.protocol}//`,
    );
  }
  if (u.hostname === '') throw new UsageError('BOT_BOTTLE_LEDGER_URL has no host');
  return { host: u.hostname, port: u.port === '' ? 5432 : Number(u.port) };
}

/** The agent's home files: the provider's config and the agent file's prompt, as on docker. */
function homeFiles(plan: BottlePlan, guestFiles: GuestSetup['files'], prompt: string) {
  const files = [...guestFiles];
  if (prompt !== '') {
    files.push({
      path: relative(GUEST_HOME, plan.agent.prompt.guestPath),
      content: prompt,
      mode: 0o644,
    });
  }
  return files;
}

/**
 * The in-cluster controller carries out `cutoff` only: freeze and kill
 * need the cluster's API (save or delete the agent's pod), and the proxy
 * pod, which the agent's traffic passes through, is given no credentials
 * for it. A bottle asking for either is refused, never downgraded.
 */
export function checkClusterCutoff(plan: BottlePlan): void {
  const c = plan.cutoff;
  if (c.policy === 'cutoff') return;
  const where =
    c.source === 'bottle'
      ? `bottle ${c.from ?? ''}`
      : c.source === 'settings'
        ? (c.from ?? 'settings.yml')
        : 'the default';
  throw new UsageError(
    `the kubernetes backend cannot carry out cutoff policy '${c.policy}' (set by ${where}): freeze and kill need the cluster's API, which the bottle's proxy pod is not given; only 'cutoff' (refuse metered calls once the budget is used up) works in a cluster`,
    `set \`cutoff: cutoff\` in ${c.source === 'bottle' ? `bottle ${c.from ?? ''}` : 'settings.yml'} for bottles that run on Kubernetes`,
  );
}

/** The launch's identity and start, fixed once per `start` (dry run and apply alike). */
export interface ClusterLaunch {
  identity: string;
  startedAt: string;
}

export function clusterLaunch(plan: BottlePlan, at = new Date()): ClusterLaunch {
  return { identity: newIdentity(plan.slug, at), startedAt: at.toISOString() };
}

export function clusterSpec(
  plan: BottlePlan,
  opts: ClusterOptions,
  proxyUrl: string,
  ledger: string,
  secrets: ClusterSecrets | undefined,
  prompt = '',
  launch: ClusterLaunch = clusterLaunch(plan),
): ClusterBottleSpec {
  checkClusterCutoff(plan);
  // No supervise sidecar in a cluster: its operator queue is reached through a host's engine link.
  const guest = providerGuestSetup(plan, proxyUrl);
  const agentEnv = { ...guest.env, BOT_BOTTLE: '1', BOT_BOTTLE_SLUG: plan.slug };
  const policy = policyFromPlan(plan);
  return {
    slug: plan.slug,
    label: plan.label,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: plan.bottles.map((b) => b.name),
    namespace: opts.namespace,
    runtimeClassName: opts.runtimeClassName,
    template: opts.template,
    images: {
      agent: opts.images.agent ?? `bot-bottle-${plan.agent.provider}`,
      egress: opts.images.egress ?? 'bot-bottle-egress',
      controller: opts.images.controller ?? CONTROLLER_IMAGE,
    },
    agentEnv,
    // As on docker, the provider's variables win over an `env:` entry of the same name.
    agentSecretEnv: plan.env.map((e) => e.name).filter((n) => !(n in agentEnv)),
    homeFiles: homeFiles(plan, guest.files, prompt),
    policy,
    launch: launchDocument(plan, launch.identity, launch.startedAt),
    credentialKeys: policy.routes.flatMap((r) => r.headers.map((h) => h.secret)),
    ledger: { ...ledgerEndpoint(ledger), cidrs: opts.ledgerCidrs },
    secrets,
  };
}

/** Every secret value an apply needs, resolved on the host (trust was checked by the caller). */
export async function resolveClusterSecrets(
  plan: BottlePlan,
  literals: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
  ask: SecretAsker | undefined,
  ledger: string,
): Promise<ClusterSecrets> {
  const agentEnv = await resolveEnv(plan, literals, env, ask);
  const routes = await resolveRoutes(plan, literals, env, ask);
  const values: Record<string, string> = {};
  for (const [host, headers] of routes) {
    for (const [name, value] of headers) values[routeSecretId(host, name)] = value;
  }
  const ca = await createCa(plan.slug);
  return {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    upstreamCaPem: readCaPems(plan).join('\n'),
    values,
    agentEnv,
    ledgerUrl: ledger,
  };
}
