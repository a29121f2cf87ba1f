import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterRendering } from '../../src/backend/backend.js';
import { bottleNames } from '../../src/backend/kubernetes/names.js';
import type { Fixture } from '../helpers/fixture.js';
import { agentPod, byKind, k8sFixture, renderViaCli } from '../helpers/k8s-bottle.js';
import {
  allowed,
  inCidr,
  policiesFor,
  selects,
  type Connection,
  type Endpoint,
  type NetworkPolicy,
} from '../helpers/netpol.js';

let fx: Fixture;
let r: ClusterRendering;
let policies: NetworkPolicy[];
let agent: Endpoint;
let proxy: Endpoint;

const NS = { 'kubernetes.io/metadata.name': 'default' };
const kubeDns: Endpoint = {
  ip: '10.96.0.10',
  pod: {
    namespace: 'kube-system',
    labels: { 'k8s-app': 'kube-dns' },
    namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
  },
};
const otherPod: Endpoint = {
  ip: '10.1.9.9',
  pod: { namespace: 'default', labels: { app: 'db' }, namespaceLabels: NS },
};
const outside = (ip: string): Endpoint => ({ ip });
const tcp = (port: number): Connection => ({ port, protocol: 'TCP' });
const udp = (port: number): Connection => ({ port, protocol: 'UDP' });

/** The labels that pick the proxy pod out: its slug, role and manager. */
const proxySelector = (): Record<string, string> => ({
  'app.kubernetes.io/managed-by': 'bot-bottle',
  'dev.bot-bottle.slug': r.slug,
  'dev.bot-bottle.role': 'egress',
});

const policiesOf = (rendering: ClusterRendering): NetworkPolicy[] =>
  rendering.objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];

/**
 * What must hold for the agent, checked on any set of policies: it is
 * isolated both ways, and it can reach its proxy's port and nothing else
 * among a set of probes (DNS, metadata, the internet, other pods).
 */
function agentViolations(ps: readonly NetworkPolicy[]): string[] {
  const out: string[] = [];
  if (agent.pod === undefined) return ['no agent pod'];
  if (policiesFor(ps, agent.pod, 'Egress').length === 0) out.push('agent egress not isolated');
  if (policiesFor(ps, agent.pod, 'Ingress').length === 0) out.push('agent ingress not isolated');
  if (!allowed(ps, agent, proxy, { ...tcp(3128), portName: 'proxy' }))
    out.push('proxy unreachable');
  const probes: [string, Endpoint, Connection][] = [
    ['proxy:53', proxy, udp(53)],
    ['proxy:22', proxy, tcp(22)],
    ['kube-dns', kubeDns, udp(53)],
    ['kube-dns/tcp', kubeDns, tcp(53)],
    ['metadata', outside('169.254.169.254'), tcp(80)],
    ['internet', outside('1.1.1.1'), tcp(443)],
    ['internet6', outside('2606:4700:4700::1111'), tcp(443)],
    ['other pod', otherPod, tcp(5432)],
  ];
  for (const [what, dst, c] of probes)
    if (allowed(ps, agent, dst, c)) out.push(`agent reaches ${what}`);
  if (allowed(ps, otherPod, agent, tcp(22))) out.push('a pod reaches the agent');
  return out;
}

beforeAll(async () => {
  fx = k8sFixture();
  r = (await renderViaCli(fx)).rendering;
  policies = policiesOf(r);
  const podLabels = agentPod(r).metadata.labels;
  const dep = byKind(r, 'Deployment').spec as {
    template: { metadata: { labels: Record<string, string> } };
  };
  agent = { ip: '10.1.0.5', pod: { namespace: 'default', labels: podLabels, namespaceLabels: NS } };
  proxy = {
    ip: '10.1.0.6',
    pod: { namespace: 'default', labels: dep.template.metadata.labels, namespaceLabels: NS },
  };
});
afterAll(() => {
  fx.cleanup();
});

describe('the evaluator', () => {
  it('follows selector, CIDR and policyTypes semantics', () => {
    expect(selects({}, { a: '1' })).toBe(true);
    expect(selects({ matchLabels: { a: '1' } }, { a: '2' })).toBe(false);
    expect(
      selects({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' }),
    ).toBe(true);
    expect(
      selects({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['2'] }] }, { a: '2' }),
    ).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, {})).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, {})).toBe(false);
    expect(inCidr('169.254.169.254', '169.254.0.0/16')).toBe(true);
    expect(inCidr('172.32.0.1', '172.16.0.0/12')).toBe(false);
    expect(inCidr('fd00:ec2::254', 'fc00::/7')).toBe(true);
    expect(inCidr('::ffff:10.0.0.1', '::ffff:0:0/96')).toBe(true);
    expect(inCidr('1.1.1.1', '::/0')).toBe(false);
    // An ingress-only policy (no policyTypes, no egress) does not isolate egress.
    const ingressOnly: NetworkPolicy = {
      kind: 'NetworkPolicy',
      metadata: { name: 'x', namespace: 'default' },
      spec: { podSelector: {}, ingress: [] },
    };
    expect(allowed([ingressOnly], agent, outside('1.1.1.1'), tcp(443))).toBe(true);
    expect(allowed([ingressOnly], otherPod, agent, tcp(443))).toBe(false);
  });
});

describe('the agent pod', () => {
  it('is selected by a policy and may reach only its proxy pod on the proxy port', () => {
    expect(agentViolations(policies)).toEqual([]);
  });

  it("has no DNS, no ipBlock and no namespace peer: the proxy pod's port is its one allowed destination", () => {
    const rules = policiesFor(
      policies,
      agent.pod ?? { namespace: '', labels: {}, namespaceLabels: {} },
      'Egress',
    ).flatMap((p) => p.spec.egress ?? []);
    expect(rules).toEqual([
      {
        to: [
          {
            podSelector: {
              matchLabels: proxySelector(),
            },
          },
        ],
        ports: [{ protocol: 'TCP', port: 3128 }],
      },
    ]);
    const peer = rules[0]?.to?.[0];
    expect(peer).not.toHaveProperty('ipBlock');
    expect(peer).not.toHaveProperty('namespaceSelector');
    expect(selects(peer?.podSelector ?? {}, proxy.pod?.labels ?? {})).toBe(true);
    expect(selects(peer?.podSelector ?? {}, agent.pod?.labels ?? {})).toBe(false);
  });

  it('is caught unconfined when its policy is removed or loosened (the check can fail)', () => {
    const name = bottleNames(r.slug).agentPolicy;
    const without = policies.filter((p) => p.metadata.name !== name);
    expect(agentViolations(without)).toEqual(
      expect.arrayContaining([
        'agent egress not isolated',
        'agent reaches internet',
        'agent reaches kube-dns',
      ]),
    );
    const withDns = structuredClone(policies);
    withDns
      .find((p) => p.metadata.name === name)
      ?.spec.egress?.push({
        to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [{ protocol: 'UDP', port: 53 }],
      });
    expect(agentViolations(withDns)).toEqual(['agent reaches kube-dns']);
  });
});

describe('the proxy pod', () => {
  it('reaches the public internet, never private, link-local, loopback or metadata addresses', () => {
    expect(allowed(policies, proxy, outside('1.1.1.1'), tcp(443))).toBe(true);
    expect(allowed(policies, proxy, outside('2606:4700:4700::1111'), tcp(443))).toBe(true);
    for (const ip of [
      '169.254.169.254',
      '10.0.0.1',
      '192.168.1.1',
      '172.16.5.5',
      '100.100.100.200',
      '127.0.0.1',
      '::1',
      'fe80::1',
      'fd00:ec2::254',
      '::ffff:10.0.0.1',
    ]) {
      expect(allowed(policies, proxy, outside(ip), tcp(443)), ip).toBe(false);
    }
  });

  it('asks kube-dns only for DNS, reaches the ledger on its port only, and no other pod', () => {
    expect(allowed(policies, proxy, kubeDns, udp(53))).toBe(true);
    expect(allowed(policies, proxy, kubeDns, tcp(53))).toBe(true);
    expect(allowed(policies, proxy, kubeDns, tcp(8080))).toBe(false);
    expect(allowed(policies, proxy, outside('10.0.5.7'), tcp(5432))).toBe(true);
    expect(allowed(policies, proxy, outside('10.0.5.7'), tcp(22))).toBe(false);
    expect(allowed(policies, proxy, otherPod, tcp(5432))).toBe(false);
  });

  it('is reached by its agent only', () => {
    expect(allowed(policies, agent, proxy, tcp(3128))).toBe(true);
    expect(allowed(policies, otherPod, proxy, tcp(3128))).toBe(false);
    const otherAgent: Endpoint = {
      ip: '10.1.0.7',
      pod: {
        namespace: 'default',
        labels: { ...(agent.pod?.labels ?? {}), 'dev.bot-bottle.slug': 'another-bottle' },
        namespaceLabels: NS,
      },
    };
    expect(allowed(policies, otherAgent, proxy, tcp(3128))).toBe(false);
  });
});
