import { GUEST_CA_BUNDLE, GUEST_HOME, GUEST_WORKSPACE } from '../../providers/provider.js';
import { EGRESS_PORT } from '../backend.js';
import { CONTROLLER_MAIN } from '../controller-image.js';
import { SIDECAR_MAIN, SIDECAR_RUN_DIR } from '../sidecar-image.js';
import type { BottleNames } from './names.js';
import type { ClusterBottleSpec } from './types.js';

/**
 * The agent's pod template and the proxy's Deployment. Both run as
 * non-root with every capability dropped, no privilege escalation, the
 * runtime's default seccomp profile, a read-only root filesystem (writable
 * places are emptyDirs) and no service account token.
 */

/** The agent user's UID in bot-bottle's agent images (`useradd`'s first UID on Debian). */
export const AGENT_UID = 1000;
/** The sidecars run as nobody, as on docker and podman. */
export const SIDECAR_UID = 65534;

/** Where the pods find what the ConfigMaps and Secrets hold. */
export const PATHS = {
  ca: '/etc/bot-bottle/ca',
  home: '/etc/bot-bottle/home',
  trust: '/etc/bot-bottle/trust',
  policy: '/etc/bot-bottle/policy',
  secrets: '/etc/bot-bottle/secrets',
  launch: '/etc/bot-bottle/launch',
  /** The volume the proxy and its controller share: the admission link's socket only. */
  link: '/run/bot-bottle-link',
} as const;

/** The in-cluster controller's command (the controller image's program). */
export const CONTROLLER_ARGV = ['node', CONTROLLER_MAIN] as const;
/** The egress proxy's end of the admission link, in the shared volume. */
export const LINK_SOCKET = `${PATHS.link}/controller.sock`;
/**
 * Exists while the proxy listens and its controller is linked (the
 * sidecar writes and removes it): the readiness probe tests for it, so the
 * Service sends the agent to a proxy only when metered calls can be admitted.
 */
export const READY_FILE = `${SIDECAR_RUN_DIR}/ready`;

const RUNTIME_DEFAULT = { type: 'RuntimeDefault' } as const;

function containerSecurity(uid: number) {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    seccompProfile: RUNTIME_DEFAULT,
  };
}

function podSecurity(uid: number) {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: RUNTIME_DEFAULT,
  };
}

/** A literal `$(` in a value would be expanded by the kubelet; `$$(` keeps it literal. */
export const escapeExpansion = (v: string): string => v.replace(/\$\(/g, '$$$$(');

/**
 * The agent's environment: the provider's variables as on docker (the
 * proxy URL is the one value that uses the kubelet's `$(VAR)` expansion of
 * the proxy Service's variables) and each `env:` entry from the agent's
 * own Secret.
 */
function agentEnv(spec: ClusterBottleSpec, names: BottleNames, proxyUrl: string) {
  const plain = Object.entries(spec.agentEnv).map(([name, value]) => ({
    name,
    value: value === proxyUrl ? value : escapeExpansion(value),
  }));
  const secret = spec.agentSecretEnv.map((name) => ({
    name,
    valueFrom: { secretKeyRef: { name: names.agentEnv, key: name } },
  }));
  return [...plain, ...secret];
}

/**
 * The init step: the provider's files into the writable home, and the
 * system CA bundle plus the bottle's CA into one bundle that is mounted
 * where the docker path's variables point (GUEST_CA_BUNDLE). Fixed text,
 * no user data.
 */
const PREPARE_SCRIPT = [
  'set -eu',
  // `..data` is the kubelet's view of the ConfigMap's current files (the rest are its links).
  `cp -RL ${PATHS.home}/..data/. ${GUEST_HOME}/`,
  `cat ${GUEST_CA_BUNDLE} ${PATHS.ca}/ca.crt > ${PATHS.trust}/ca-certificates.crt`,
].join('\n');

export function agentPodTemplate(
  spec: ClusterBottleSpec,
  names: BottleNames,
  pod: { labels: Record<string, string>; annotations: Record<string, string> },
  proxyUrl: string,
) {
  const home = { name: 'home', mountPath: GUEST_HOME };
  const trust = { name: 'trust', mountPath: PATHS.trust };
  return {
    metadata: { labels: pod.labels, annotations: pod.annotations },
    spec: {
      ...(spec.runtimeClassName === null ? {} : { runtimeClassName: spec.runtimeClassName }),
      automountServiceAccountToken: false,
      // The proxy's address reaches the agent as the Service's variables (no DNS).
      enableServiceLinks: true,
      // No resolver to ask: cluster DNS would be a way out past the proxy.
      dnsPolicy: 'None',
      dnsConfig: { nameservers: ['127.0.0.1'] },
      securityContext: podSecurity(AGENT_UID),
      initContainers: [
        {
          name: 'prepare',
          image: spec.images.agent,
          command: ['sh', '-c', PREPARE_SCRIPT],
          securityContext: containerSecurity(AGENT_UID),
          volumeMounts: [
            home,
            trust,
            { name: 'home-files', mountPath: PATHS.home, readOnly: true },
            { name: 'ca', mountPath: PATHS.ca, readOnly: true },
          ],
        },
      ],
      containers: [
        {
          name: 'agent',
          image: spec.images.agent,
          // Idle, as on docker: the CLI is started with `kubectl exec`.
          command: ['sleep', 'infinity'],
          workingDir: GUEST_WORKSPACE,
          env: agentEnv(spec, names, proxyUrl),
          securityContext: containerSecurity(AGENT_UID),
          volumeMounts: [
            home,
            { name: 'workspace', mountPath: GUEST_WORKSPACE },
            { name: 'tmp', mountPath: '/tmp' },
            {
              name: 'trust',
              mountPath: GUEST_CA_BUNDLE,
              subPath: 'ca-certificates.crt',
              readOnly: true,
            },
          ],
        },
      ],
      volumes: [
        { name: 'home', emptyDir: {} },
        { name: 'workspace', emptyDir: {} },
        { name: 'tmp', emptyDir: {} },
        { name: 'trust', emptyDir: { sizeLimit: '4Mi' } },
        {
          name: 'ca',
          configMap: { name: names.caConfig, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
        },
        {
          name: 'home-files',
          configMap: {
            name: names.homeConfig,
            items: spec.homeFiles.map((f, i) => ({ key: homeKey(i), path: f.path, mode: f.mode })),
          },
        },
      ],
    },
  };
}

/** ConfigMap keys cannot hold `/`: the files are keyed by index and placed by `items`. */
export const homeKey = (i: number): string => `file-${i}`;

export function egressDeployment(
  spec: ClusterBottleSpec,
  names: BottleNames,
  meta: { labels: Record<string, string>; pod: Record<string, string> },
) {
  const run = { name: 'run', mountPath: SIDECAR_RUN_DIR };
  const link = { name: 'link', mountPath: PATHS.link };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: names.egress, namespace: spec.namespace, labels: meta.labels },
    spec: {
      replicas: 1,
      // One proxy per bottle at a time: the old one goes before the new one starts.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: meta.pod },
      template: {
        metadata: { labels: { ...meta.labels, ...meta.pod } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurity(SIDECAR_UID),
          containers: [
            {
              name: 'egress',
              image: spec.images.egress,
              env: [
                { name: 'BOT_BOTTLE_SLUG', value: spec.slug },
                // Metered calls need the controller's admission (fail closed without).
                { name: 'BOT_BOTTLE_CONTROLLER_LINK', value: '1' },
                { name: 'BOT_BOTTLE_EGRESS_LOAD_AT_START', value: '1' },
                { name: 'BOT_BOTTLE_EGRESS_POLICY_FILE', value: `${PATHS.policy}/policy.json` },
                { name: 'BOT_BOTTLE_EGRESS_SECRETS_FILE', value: `${PATHS.secrets}/secrets.json` },
                { name: 'BOT_BOTTLE_CONTROLLER_SOCKET', value: LINK_SOCKET },
                { name: 'BOT_BOTTLE_EGRESS_READY_FILE', value: READY_FILE },
              ],
              command: ['node', SIDECAR_MAIN],
              ports: [{ name: 'proxy', containerPort: EGRESS_PORT, protocol: 'TCP' }],
              // Ready only once the controller has linked (fixed argv, no shell).
              readinessProbe: {
                exec: { command: ['test', '-e', READY_FILE] },
                periodSeconds: 2,
                failureThreshold: 1,
              },
              securityContext: containerSecurity(SIDECAR_UID),
              volumeMounts: [
                run,
                link,
                { name: 'policy', mountPath: PATHS.policy, readOnly: true },
                { name: 'credentials', mountPath: PATHS.secrets, readOnly: true },
              ],
            },
            {
              name: 'controller',
              image: spec.images.controller,
              command: [...CONTROLLER_ARGV],
              env: [
                { name: 'BOT_BOTTLE_SLUG', value: spec.slug },
                {
                  name: 'BOT_BOTTLE_LEDGER_URL',
                  valueFrom: { secretKeyRef: { name: names.ledger, key: 'url' } },
                },
                // The proxy's end of the admission link, in the volume both containers mount.
                { name: 'BOT_BOTTLE_CONTROLLER_SOCKET', value: LINK_SOCKET },
                { name: 'BOT_BOTTLE_CONTROLLER_LAUNCH', value: `${PATHS.launch}/launch.json` },
              ],
              securityContext: containerSecurity(SIDECAR_UID),
              // Not the proxy's run directory: its control socket reconfigures the proxy.
              volumeMounts: [link, { name: 'launch', mountPath: PATHS.launch, readOnly: true }],
            },
          ],
          volumes: [
            // The proxy's control socket and readiness mark: in memory, as the tmpfs on docker.
            { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } },
            // The admission link's socket, shared by the two containers.
            { name: 'link', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
            { name: 'launch', configMap: { name: names.launchConfig } },
            { name: 'policy', configMap: { name: names.policyConfig } },
            { name: 'credentials', secret: { secretName: names.credentials, defaultMode: 0o400 } },
          ],
        },
      },
    },
  };
}
