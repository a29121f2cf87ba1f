import { isIP } from 'node:net';
import { UsageError } from '../../errors.js';
import { EGRESS_PORT } from '../backend.js';
import type { K8sObject } from './types.js';

/**
 * The two NetworkPolicies of a bottle. The agent pod may reach only its
 * proxy pod's port and nothing may reach it; the proxy may be reached only
 * by its agent and may reach the public internet, kube-dns, and the
 * shared ledger, never a private, link-local, loopback or metadata address.
 */

/**
 * Never reachable from the proxy: private (RFC 1918, CGNAT), link-local
 * (which holds the cloud metadata address 169.254.169.254), loopback,
 * "this network", and their IPv6 counterparts (unique-local holds
 * fd00:ec2::254, the IPv6 metadata address), plus IPv4-mapped IPv6.
 */
export const BLOCKED_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
] as const;
export const BLOCKED_V6 = ['::1/128', '::ffff:0:0/96', 'fc00::/7', 'fe80::/10'] as const;

/** Where cluster DNS answers: kube-dns pods in kube-system (the label every common distribution sets). */
export const KUBE_DNS_PEER = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
} as const;

export interface PolicyInput {
  names: { agentPolicy: string; egressPolicy: string };
  namespace: string;
  labels: (component: string) => Record<string, string>;
  agentPods: Record<string, string>;
  egressPods: Record<string, string>;
  ledger: { host: string; port: number; cidrs: readonly string[] };
}

/**
 * The addresses the controller reaches the ledger at. NetworkPolicy knows
 * addresses, not names: a ledger named by host name needs its CIDRs given.
 */
export function ledgerCidrs(ledger: PolicyInput['ledger']): string[] {
  if (ledger.cidrs.length > 0) return [...ledger.cidrs];
  const family = isIP(ledger.host.replace(/^\[|\]$/g, ''));
  if (family === 4) return [`${ledger.host}/32`];
  if (family === 6) return [`${ledger.host.replace(/^\[|\]$/g, '')}/128`];
  throw new UsageError(
    `the ledger host '${ledger.host}' is a name, and a NetworkPolicy allows addresses only`,
    `pass the addresses the controller may reach it at: --k8s-ledger-cidr CIDR (e.g. 10.0.5.7/32)`,
  );
}

export function agentNetworkPolicy(input: PolicyInput): K8sObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: input.names.agentPolicy,
      namespace: input.namespace,
      labels: input.labels('network-policy'),
    },
    spec: {
      podSelector: { matchLabels: input.agentPods },
      // Both types, no ingress rule: nothing reaches the agent pod.
      policyTypes: ['Ingress', 'Egress'],
      egress: [
        {
          to: [{ podSelector: { matchLabels: input.egressPods } }],
          ports: [{ protocol: 'TCP', port: EGRESS_PORT }],
        },
      ],
    },
  };
}

export function egressNetworkPolicy(input: PolicyInput): K8sObject {
  const ledger = ledgerCidrs(input.ledger);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: input.names.egressPolicy,
      namespace: input.namespace,
      labels: input.labels('network-policy'),
    },
    spec: {
      podSelector: { matchLabels: input.egressPods },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: input.agentPods } }],
          ports: [{ protocol: 'TCP', port: EGRESS_PORT }],
        },
      ],
      egress: [
        {
          to: [
            { ipBlock: { cidr: '0.0.0.0/0', except: [...BLOCKED_V4] } },
            { ipBlock: { cidr: '::/0', except: [...BLOCKED_V6] } },
          ],
        },
        {
          to: [KUBE_DNS_PEER],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        {
          // The controller container shares the pod: its one private destination.
          to: ledger.map((cidr) => ({ ipBlock: { cidr } })),
          ports: [{ protocol: 'TCP', port: input.ledger.port }],
        },
      ],
    },
  };
}
