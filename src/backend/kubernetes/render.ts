import { EGRESS_PORT, LABEL } from '../backend.js';
import { bottleNames, labelValue, serviceEnvNames, type BottleNames } from './names.js';
import { agentNetworkPolicy, egressNetworkPolicy } from './network-policy.js';
import { agentPodTemplate, egressDeployment, homeKey, CONTROLLER_ARGV } from './pods.js';
import type { ClusterBottleSpec, ClusterRendering, K8sObject } from './types.js';

/**
 * One bottle as Kubernetes objects (kubernetes-sigs/agent-sandbox for the
 * agent). Pure: nothing is read or run. docs/kubernetes.md explains each
 * object; the order is the apply order.
 */

/** What a dry run shows for every secret value. */
export const REDACTED = '<redacted>';
/** What a dry run shows for the bottle's CA certificate (made fresh at apply). */
export const CA_PLACEHOLDER = '<made at apply: the bottle CA certificate (public part only)>';

export const SANDBOX_API = 'agents.x-k8s.io/v1beta1';
export const EXTENSIONS_API = 'extensions.agents.x-k8s.io/v1beta1';

const MANAGED_BY = 'app.kubernetes.io/managed-by';

/** The labels that select one bottle's objects (teardown deletes by them). */
export function bottleSelector(slug: string): Record<string, string> {
  return { [MANAGED_BY]: 'bot-bottle', [LABEL.slug]: labelValue(slug) };
}

export const selectorString = (sel: Record<string, string>): string =>
  Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** The URL the agent's proxy variables hold: the proxy Service's address, by its variables. */
export function clusterProxyUrl(slug: string): string {
  const env = serviceEnvNames(bottleNames(slug).egressService);
  return `http://$(${env.host}):$(${env.port})`;
}

interface Ctx {
  spec: ClusterBottleSpec;
  names: BottleNames;
  labels: (component: string) => Record<string, string>;
  meta: (name: string, component: string) => K8sObject['metadata'];
  agentPods: Record<string, string>;
  egressPods: Record<string, string>;
}

function context(spec: ClusterBottleSpec): Ctx {
  const names = bottleNames(spec.slug);
  const labels = (component: string): Record<string, string> => ({
    'app.kubernetes.io/name': 'bot-bottle',
    'app.kubernetes.io/instance': names.base,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'bot-bottle',
    ...bottleSelector(spec.slug),
  });
  return {
    spec,
    names,
    labels,
    meta: (name, component) => ({ name, namespace: spec.namespace, labels: labels(component) }),
    agentPods: { ...bottleSelector(spec.slug), [LABEL.role]: 'agent' },
    egressPods: { ...bottleSelector(spec.slug), [LABEL.role]: 'egress' },
  };
}

/** Values kept only in annotations: label values cannot hold them as they are. */
function annotations(spec: ClusterBottleSpec): Record<string, string> {
  return {
    [LABEL.slug]: spec.slug,
    [LABEL.agent]: spec.agent,
    [LABEL.label]: spec.label,
    [LABEL.provider]: spec.provider,
    [LABEL.bottles]: spec.bottles.join(' '),
  };
}

function configMaps(c: Ctx): K8sObject[] {
  const { spec, names } = c;
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: c.meta(names.policyConfig, 'egress-policy'),
      data: { 'policy.json': `${JSON.stringify(spec.policy, null, 2)}\n` },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: c.meta(names.caConfig, 'ca'),
      data: { 'ca.crt': spec.secrets?.caCertPem ?? CA_PLACEHOLDER },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: c.meta(names.homeConfig, 'agent-home'),
      data: Object.fromEntries(spec.homeFiles.map((f, i) => [homeKey(i), f.content])),
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: c.meta(names.launchConfig, 'controller-launch'),
      data: { 'launch.json': spec.launch },
    },
  ];
}

function secretObject(c: Ctx, name: string, component: string, data: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: c.meta(name, component),
    type: 'Opaque',
    stringData: data,
  };
}

/** The proxy's secrets.json as the sidecar reads it; every value redacted in a dry run. */
function credentialsJson(spec: ClusterBottleSpec): string {
  const s = spec.secrets;
  const values = Object.fromEntries(
    spec.credentialKeys.map((k) => [k, s === undefined ? REDACTED : (s.values[k] ?? '')]),
  );
  return JSON.stringify({
    caCertPem: s?.caCertPem ?? REDACTED,
    caKeyPem: s?.caKeyPem ?? REDACTED,
    upstreamCaPem: s?.upstreamCaPem ?? REDACTED,
    values,
  });
}

function secrets(c: Ctx): K8sObject[] {
  const { spec, names } = c;
  const out: K8sObject[] = [
    // Mounted in the proxy pod only; the agent's pod never names it.
    secretObject(c, names.credentials, 'egress-credentials', {
      'secrets.json': credentialsJson(spec),
    }),
    secretObject(c, names.ledger, 'ledger', { url: spec.secrets?.ledgerUrl ?? REDACTED }),
  ];
  if (spec.agentSecretEnv.length > 0) {
    out.push(
      secretObject(
        c,
        names.agentEnv,
        'agent-env',
        Object.fromEntries(
          spec.agentSecretEnv.map((n) => [n, spec.secrets?.agentEnv[n] ?? REDACTED]),
        ),
      ),
    );
  }
  return out;
}

function egressService(c: Ctx): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: c.meta(c.names.egressService, 'egress'),
    spec: {
      type: 'ClusterIP',
      selector: c.egressPods,
      ports: [{ name: 'proxy', port: EGRESS_PORT, targetPort: 'proxy', protocol: 'TCP' }],
    },
  };
}

function agentObjects(c: Ctx): K8sObject[] {
  const { spec, names } = c;
  const podTemplate = agentPodTemplate(
    spec,
    names,
    { labels: { ...c.labels('agent'), ...c.agentPods }, annotations: annotations(spec) },
    clusterProxyUrl(spec.slug),
  );
  if (!spec.template) {
    return [
      {
        apiVersion: SANDBOX_API,
        kind: 'Sandbox',
        metadata: { ...c.meta(names.sandbox, 'agent'), annotations: annotations(spec) },
        // No headless Service: nothing may reach the agent.
        spec: { podTemplate, service: false },
      },
    ];
  }
  return [
    {
      apiVersion: EXTENSIONS_API,
      kind: 'SandboxTemplate',
      metadata: { ...c.meta(names.sandbox, 'agent-template'), annotations: annotations(spec) },
      spec: {
        podTemplate,
        service: false,
        // The bottle's own NetworkPolicies select its pods; the template's shared one would not separate bottles.
        networkPolicyManagement: 'Unmanaged',
        envVarsInjectionPolicy: 'Disallowed',
      },
    },
    {
      apiVersion: EXTENSIONS_API,
      kind: 'SandboxWarmPool',
      metadata: c.meta(names.sandbox, 'agent-pool'),
      // No warm pods: a bottle is made for one claim, which starts it cold.
      spec: { replicas: 0, sandboxTemplateRef: { name: names.sandbox } },
    },
    {
      apiVersion: EXTENSIONS_API,
      kind: 'SandboxClaim',
      metadata: { ...c.meta(names.sandbox, 'agent-claim'), annotations: annotations(spec) },
      spec: { warmPoolRef: { name: names.sandbox }, lifecycle: { shutdownPolicy: 'Delete' } },
    },
  ];
}

function notes(spec: ClusterBottleSpec): string[] {
  const hosts = Object.entries(spec.policy.hosts);
  return [
    ...hosts.map(([name, address]) =>
      address.startsWith('host-gateway')
        ? `egress host ${name} maps to host-gateway, which names a container engine's host and means nothing in a cluster: give it an address`
        : `egress host ${name} maps to ${address}: the proxy's NetworkPolicy still refuses private, link-local and loopback addresses`,
    ),
    `the proxy pod is Ready only while its controller container (${CONTROLLER_ARGV.join(' ')}) is linked to the proxy; the controller admits metered calls against the shared store at ${spec.ledger.host}:${spec.ledger.port} and does not start without it; with no controller linked the proxy refuses metered LLM calls (fail closed)`,
    `images must be pullable by the cluster: agent ${spec.images.agent}, egress ${spec.images.egress}, controller ${spec.images.controller}`,
    'the proxy Service must exist before the agent pod starts (apply order does this): the agent finds the proxy by the Service variables the kubelet sets, with no DNS',
    'the agent is idle: start its CLI with kubectl exec; the workspace is an empty volume (no copy-in, no work-home branch yet)',
  ];
}

export function renderBottle(spec: ClusterBottleSpec): ClusterRendering {
  const c = context(spec);
  const policyInput = {
    names: c.names,
    namespace: spec.namespace,
    labels: c.labels,
    agentPods: c.agentPods,
    egressPods: c.egressPods,
    ledger: spec.ledger,
  };
  const objects: K8sObject[] = [
    // Policies first: no pod of the bottle ever runs unisolated.
    agentNetworkPolicy(policyInput),
    egressNetworkPolicy(policyInput),
    ...configMaps(c),
    ...secrets(c),
    egressService(c),
    egressDeployment(spec, c.names, { labels: c.labels('egress'), pod: c.egressPods }),
    ...agentObjects(c),
  ];
  return {
    schemaVersion: 1,
    backend: 'kubernetes',
    slug: spec.slug,
    namespace: spec.namespace,
    selector: selectorString(bottleSelector(spec.slug)),
    names: { ...c.names },
    objects,
    notes: notes(spec),
  };
}
