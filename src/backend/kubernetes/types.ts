import type { EgressPolicyConfig } from '../../egress/config.js';
import type { ProviderName } from '../../manifest/schema.js';

/**
 * What the Kubernetes renderer needs for one bottle. Engine-neutral facts
 * (names, env, policy) come from the plan; secret values are present only
 * when the objects are to be applied, never for a dry run.
 */

/** A Kubernetes object as it is sent to the API server. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** The secret values that go into the proxy's Secret; absent: a dry run (values redacted). */
export interface ClusterSecrets {
  caCertPem: string;
  caKeyPem: string;
  upstreamCaPem: string;
  /** Credential values by secret id (the policy's route headers name them). */
  values: Readonly<Record<string, string>>;
  /** The agent's `env:` values, resolved on the host. */
  agentEnv: Readonly<Record<string, string>>;
  ledgerUrl: string;
}

export interface ClusterBottleSpec {
  slug: string;
  label: string;
  agent: string;
  provider: ProviderName;
  bottles: readonly string[];
  namespace: string;
  /** RuntimeClass of the agent pod (gVisor's is `gvisor` on most clusters); null: the cluster's default. */
  runtimeClassName: string | null;
  /** SandboxTemplate + SandboxWarmPool + SandboxClaim instead of a bare Sandbox. */
  template: boolean;
  images: { agent: string; egress: string; controller: string };
  /**
   * The agent's environment as the provider sets it, its proxy variables
   * holding `ClusterBackend.proxyUrl(slug)`: the one value left to the
   * kubelet's `$(VAR)` expansion (every other `$(` is escaped).
   */
  agentEnv: Readonly<Record<string, string>>;
  /** Names of the agent's `env:` entries: their values live in a Secret. */
  agentSecretEnv: readonly string[];
  /** The provider's own files for the agent's home (base URL, onboarding state; no secrets). */
  homeFiles: readonly { path: string; content: string; mode: number }[];
  policy: EgressPolicyConfig;
  /**
   * The controller's launch.json (plan, identity, start time; no secret
   * values), mounted in the controller container from a ConfigMap.
   */
  launch: string;
  /** Secret ids the policy's routes use (the keys of `ClusterSecrets.values`). */
  credentialKeys: readonly string[];
  /** Where the controller reaches the shared ledger: for its NetworkPolicy rule. */
  ledger: { host: string; port: number; cidrs: readonly string[] };
  /** undefined: a dry run; every secret value is shown as `<redacted>`. */
  secrets: ClusterSecrets | undefined;
}

/** What `start --backend kubernetes --dry-run --json` prints (docs/kubernetes.md). */
export interface ClusterRendering {
  schemaVersion: 1;
  backend: 'kubernetes';
  slug: string;
  namespace: string;
  /** The label selector that finds (and tears down) every object of this bottle. */
  selector: string;
  names: Record<string, string>;
  /** The objects in apply order (the proxy Service before the agent's pod: its variables). */
  objects: K8sObject[];
  /** Facts the operator must know before applying (what is not implemented, what to provide). */
  notes: string[];
}

/** Runs kubectl: `apply -f -` with the rendered objects on stdin, `delete -l` by label. */
export interface ClusterBackend {
  readonly name: 'kubernetes';
  render(spec: ClusterBottleSpec): ClusterRendering;
  /** The agent's proxy URL for this slug (what HTTPS_PROXY holds in the agent pod). */
  proxyUrl(slug: string): string;
  /** Check kubectl is installed and a cluster answers. */
  preflight(): Promise<void>;
  /** `kubectl apply -f -`; run `preflight` first. */
  apply(rendering: ClusterRendering): Promise<{ output: string }>;
  teardown(slug: string, namespace: string): Promise<{ output: string }>;
}
