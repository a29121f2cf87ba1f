import type { ClusterBackend, ClusterRendering } from '../backend/backend.js';
import {
  clusterLaunch,
  clusterSpec,
  DEFAULT_NAMESPACE,
  DEFAULT_RUNTIME_CLASS,
  ledgerUrl,
  resolveClusterSecrets,
  type ClusterOptions,
} from '../controller/cluster.js';
import { ExitCode, UsageError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';
import type { TrustAssessment } from '../trust/assess.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';
import type { Services } from './services.js';
import { gateTrust } from './trust-gate.js';

/**
 * `start --backend kubernetes`: the bottle as Kubernetes objects. With
 * --dry-run they are printed (secret values redacted); without, the
 * secrets are resolved on this host and the objects applied with kubectl.
 * No session runs here: the agent is started in its pod (docs/kubernetes.md).
 */

/** The `--k8s-*` options of `start`, as commander hands them over. */
export interface K8sFlags {
  k8sNamespace?: string | undefined;
  k8sRuntimeClass?: string | undefined;
  k8sTemplate?: true | undefined;
  k8sAgentImage?: string | undefined;
  k8sEgressImage?: string | undefined;
  k8sControllerImage?: string | undefined;
  k8sLedgerCidr: string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CIDR = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

/** Any `--k8s-*` flag given: they mean nothing to a container engine. */
export function k8sFlagsGiven(f: K8sFlags): boolean {
  return (
    f.k8sLedgerCidr.length > 0 ||
    [
      f.k8sNamespace,
      f.k8sRuntimeClass,
      f.k8sTemplate,
      f.k8sAgentImage,
      f.k8sEgressImage,
      f.k8sControllerImage,
    ].some((v) => v !== undefined)
  );
}

export function clusterOptions(f: K8sFlags): ClusterOptions {
  const namespace = f.k8sNamespace ?? DEFAULT_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) {
    throw new UsageError(
      `--k8s-namespace: '${namespace}' is not a namespace name (lower-case letters, digits and '-', at most 63)`,
    );
  }
  const rc = f.k8sRuntimeClass ?? DEFAULT_RUNTIME_CLASS;
  if (rc !== 'none' && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(rc)) {
    throw new UsageError(`--k8s-runtime-class: '${rc}' is not a RuntimeClass name (or 'none')`);
  }
  for (const c of f.k8sLedgerCidr) {
    if (!CIDR.test(c))
      throw new UsageError(`--k8s-ledger-cidr: '${c}' is not a CIDR such as 10.0.5.7/32`);
  }
  return {
    namespace,
    runtimeClassName: rc === 'none' ? null : rc,
    template: f.k8sTemplate === true,
    images: { agent: f.k8sAgentImage, egress: f.k8sEgressImage, controller: f.k8sControllerImage },
    ledgerCidrs: f.k8sLedgerCidr,
  };
}

function describe(r: ClusterRendering): string {
  const lines = [
    `bottle ${r.slug} as ${r.objects.length} Kubernetes objects in namespace ${r.namespace} (selector ${r.selector}):`,
    ...r.objects.map((o) => `  ${o.kind} ${o.metadata.name}`),
    'notes:',
    ...r.notes.map((n) => `  - ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function startOnCluster(
  ctx: CliContext,
  svc: Services,
  req: {
    plan: BottlePlan;
    literals: Map<string, string>;
    /** The agent file's body: the prompt placed in the agent's home. */
    prompt: string;
    trust: TrustAssessment;
    flags: K8sFlags;
    dryRun: boolean;
    json: boolean;
    yes: boolean;
    ask: boolean;
  },
): Promise<number> {
  const cluster: ClusterBackend = svc.cluster();
  const opts = clusterOptions(req.flags);
  const ledger = ledgerUrl(ctx.env);
  const proxyUrl = cluster.proxyUrl(req.plan.slug);
  // One identity and start time for what is shown and what is applied.
  const launch = clusterLaunch(req.plan);
  // Always rendered without secrets first: what is printed never holds a value.
  const shown = cluster.render(
    clusterSpec(req.plan, opts, proxyUrl, ledger, undefined, req.prompt, launch),
  );
  for (const w of req.plan.warnings) ctx.io.err(`bot-bottle: warning: ${w}`);
  if (req.dryRun) {
    if (req.json) printJson(ctx.io, shown);
    else {
      ctx.io.out(`bot-bottle start ${req.plan.agent.name}: dry run, nothing was applied\n`);
      ctx.io.out(describe(shown));
    }
    return ExitCode.ok;
  }
  const gate = await gateTrust(ctx, svc, req.plan, req.trust, {
    headless: false,
    yes: req.yes,
    ask: req.ask,
  });
  if (gate.outcome === 'declined') return ExitCode.ok;
  if (req.ask && !req.yes && gate.outcome === 'trusted') {
    ctx.io.err(describe(shown));
    const where = `namespace ${opts.namespace} of the current kubectl context`;
    if (!(await svc.ui.confirm(`Apply bottle ${shown.slug} to ${where}?`))) {
      ctx.io.err('bot-bottle: not applied; nothing was created');
      return ExitCode.ok;
    }
  }
  await cluster.preflight();
  const secrets = await resolveClusterSecrets(
    gate.plan,
    req.literals,
    ctx.env,
    svc.interactive ? (q) => svc.ui.secret(q) : undefined,
    ledger,
  );
  const rendering = cluster.render(
    clusterSpec(gate.plan, opts, proxyUrl, ledger, secrets, req.prompt, launch),
  );
  ctx.io.err(
    `bot-bottle: applying ${rendering.objects.length} objects of ${rendering.slug} with kubectl`,
  );
  const { output } = await cluster.apply(rendering);
  for (const n of shown.notes) ctx.io.err(`bot-bottle: note: ${n}`);
  if (req.json) printJson(ctx.io, { outcome: 'applied', ...shown, kubectl: output });
  else {
    ctx.io.out(output);
    ctx.io.out(
      `applied bottle ${rendering.slug}; remove it with: bot-bottle kill ${rendering.slug} --backend kubernetes${opts.namespace === DEFAULT_NAMESPACE ? '' : ` --k8s-namespace ${opts.namespace}`}\n`,
    );
  }
  return ExitCode.ok;
}

/** `kill <slug> --backend kubernetes`: delete every object carrying the bottle's labels. */
export async function killOnCluster(
  ctx: CliContext,
  svc: Services,
  slug: string,
  req: { namespace: string | undefined; json: boolean },
): Promise<number> {
  const { namespace } = clusterOptions({ k8sNamespace: req.namespace, k8sLedgerCidr: [] });
  const { output } = await svc.cluster().teardown(slug, namespace);
  if (req.json) printJson(ctx.io, { slug, namespace, outcome: 'killed', kubectl: output });
  else
    ctx.io.out(output.trim() === '' ? `no objects of ${slug} in namespace ${namespace}\n` : output);
  return ExitCode.ok;
}
