import { EnvironmentError } from '../../errors.js';
import { run, type RunResult } from '../../util/exec.js';
import { bottleSelector, clusterProxyUrl, renderBottle, selectorString } from './render.js';
import type { ClusterBackend, ClusterRendering } from './types.js';

/**
 * Applying and tearing down a rendered bottle with kubectl: argv arrays,
 * the objects on stdin (`apply -f -`), never on a command line or in a
 * file; teardown deletes by the bottle's labels.
 */

/** Runs `kubectl <args>`, `input` on its stdin; the test seam. */
export type Kubectl = (args: readonly string[], input?: string) => Promise<RunResult>;

const realKubectl: Kubectl = (args, input) =>
  run('kubectl', args, { timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });

/** The kinds a bottle is made of, the agent's first: it goes before what isolates it. */
export const WORKLOAD_KINDS = [
  'sandboxclaims.extensions.agents.x-k8s.io',
  'sandboxwarmpools.extensions.agents.x-k8s.io',
  'sandboxtemplates.extensions.agents.x-k8s.io',
  'sandboxes.agents.x-k8s.io',
  'deployments.apps',
] as const;
/** Removed once the pods are gone, so no pod of the bottle is ever unisolated. */
export const SUPPORT_KINDS = [
  'services',
  'configmaps',
  'secrets',
  'networkpolicies.networking.k8s.io',
] as const;

export const PREFLIGHT_ARGV = ['version', '--output=json', '--request-timeout=10s'] as const;

export function applyArgv(): string[] {
  return ['apply', '--validate=strict', '--field-manager=bot-bottle', '-f', '-'];
}

/** What `apply -f -` reads: the objects as one List, in apply order. */
export function applyInput(rendering: ClusterRendering): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rendering.objects })}\n`;
}

/** Lists the cluster's resource types (`plural.group`), to delete only kinds it has. */
export const API_RESOURCES_ARGV = ['api-resources', '--output=name'] as const;

/**
 * The deletes that remove a bottle. `known`: the cluster's resource types;
 * a kind it lacks (agent-sandbox's extensions not installed) is left out,
 * since kubectl refuses an unknown type even with --ignore-not-found.
 */
export function teardownArgvs(
  slug: string,
  namespace: string,
  known?: ReadonlySet<string>,
): string[][] {
  const has = (k: string): boolean => known === undefined || known.has(k);
  const common = [
    '--namespace',
    namespace,
    '--selector',
    selectorString(bottleSelector(slug)),
    '--ignore-not-found',
  ];
  return [WORKLOAD_KINDS, SUPPORT_KINDS]
    .map((kinds) => kinds.filter(has))
    .filter((kinds) => kinds.length > 0)
    .map((kinds) => ['delete', kinds.join(','), ...common, '--wait=true']);
}

const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';

function missing(r: RunResult): EnvironmentError | undefined {
  if (r.spawnError === undefined) return undefined;
  return new EnvironmentError(
    `kubectl is not installed (or not on PATH): ${r.spawnError.code ?? 'cannot start'}`,
    'install kubectl (Debian: apt-get install kubernetes-client) and point it at the cluster (KUBECONFIG)',
    { kubectl: 'missing' },
  );
}

export class KubernetesCluster implements ClusterBackend {
  readonly name = 'kubernetes';
  readonly #kubectl: Kubectl;

  constructor(kubectl: Kubectl = realKubectl) {
    this.#kubectl = kubectl;
  }

  render = renderBottle;
  proxyUrl = clusterProxyUrl;

  async preflight(): Promise<void> {
    const r = await this.#kubectl(PREFLIGHT_ARGV);
    const gone = missing(r);
    if (gone !== undefined) throw gone;
    if (r.code !== 0) {
      throw new EnvironmentError(
        `no Kubernetes cluster answers kubectl: ${firstLine(r.stderr) || `exit ${r.code}`}`,
        'check `kubectl cluster-info` and the current context (KUBECONFIG, --context)',
        { kubectl: 'no-cluster' },
      );
    }
  }

  /** The caller runs `preflight` first (before asking for any secret). */
  async apply(rendering: ClusterRendering): Promise<{ output: string }> {
    const r = await this.#kubectl(applyArgv(), applyInput(rendering));
    const gone = missing(r);
    if (gone !== undefined) throw gone;
    if (r.code !== 0) {
      throw new EnvironmentError(
        `kubectl apply of bottle ${rendering.slug} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`,
        `the objects applied so far carry ${rendering.selector}; \`bot-bottle kill ${rendering.slug} --backend kubernetes\` removes them`,
      );
    }
    return { output: r.stdout };
  }

  async teardown(slug: string, namespace: string): Promise<{ output: string }> {
    await this.preflight();
    const types = await this.#kubectl(API_RESOURCES_ARGV);
    if (types.code !== 0) {
      throw new EnvironmentError(
        `kubectl api-resources failed: ${firstLine(types.stderr) || `exit ${types.code}`}`,
      );
    }
    const known = new Set(types.stdout.split('\n').map((l) => l.trim()));
    const out: string[] = [];
    for (const argv of teardownArgvs(slug, namespace, known)) {
      const r = await this.#kubectl(argv);
      const gone = missing(r);
      if (gone !== undefined) throw gone;
      if (r.code !== 0) {
        throw new EnvironmentError(
          `kubectl delete for bottle ${slug} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`,
        );
      }
      out.push(r.stdout);
    }
    return { output: out.join('') };
  }
}
