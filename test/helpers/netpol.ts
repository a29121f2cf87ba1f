import { isIP } from 'node:net';

/**
 * A small, pure evaluator of Kubernetes NetworkPolicy semantics
 * (networking.k8s.io/v1): which policies select a pod, whether the pod is
 * isolated for a direction, and whether one connection is allowed. It
 * follows the API's documented rules: policyTypes defaulting, label
 * selectors (matchLabels, matchExpressions), peers (podSelector,
 * namespaceSelector, both, ipBlock with except) and ports (protocol
 * defaulting to TCP, numbers, names, endPort). ipBlock is matched by
 * address only.
 */

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

interface Port {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

interface Rule {
  to?: Peer[];
  from?: Peer[];
  ports?: Port[];
}

export interface NetworkPolicy {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: string[];
    ingress?: Rule[];
    egress?: Rule[];
  };
}

export interface Endpoint {
  ip: string;
  /** Set for a pod of the cluster; absent for an address outside it. */
  pod?: {
    namespace: string;
    labels: Record<string, string>;
    namespaceLabels: Record<string, string>;
  };
}

export interface Connection {
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  /** The destination port's name in its pod spec (named ports). */
  portName?: string;
}

export function selects(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  }
  return true;
}

/** policyTypes as the API server defaults it. */
export function policyTypes(p: NetworkPolicy): string[] {
  if (p.spec.policyTypes !== undefined && p.spec.policyTypes.length > 0) return p.spec.policyTypes;
  return p.spec.egress !== undefined && p.spec.egress.length > 0
    ? ['Ingress', 'Egress']
    : ['Ingress'];
}

type Direction = 'Ingress' | 'Egress';

/** The policies that select the pod for a direction (the pod is isolated for it when any does). */
export function policiesFor(
  policies: readonly NetworkPolicy[],
  pod: NonNullable<Endpoint['pod']>,
  dir: Direction,
): NetworkPolicy[] {
  return policies.filter(
    (p) =>
      p.kind === 'NetworkPolicy' &&
      (p.metadata.namespace ?? 'default') === pod.namespace &&
      selects(p.spec.podSelector, pod.labels) &&
      policyTypes(p).includes(dir),
  );
}

function parseIp(ip: string): { v: 4 | 6; n: bigint } {
  const family = isIP(ip);
  if (family === 4) {
    return { v: 4, n: ip.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  }
  if (family !== 6) throw new Error(`not an address: ${ip}`);
  let s = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4?.[1] !== undefined) {
    const n = parseIp(v4[1]).n;
    s = s.replace(v4[1], `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`);
  }
  const [head = '', tail] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { v: 6, n: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

export function inCidr(ip: string, cidr: string): boolean {
  const [net = '', bitsText = ''] = cidr.split('/');
  const a = parseIp(ip);
  const b = parseIp(net);
  if (a.v !== b.v) return false;
  const width = a.v === 4 ? 32n : 128n;
  const bits = BigInt(Number(bitsText));
  const shift = width - bits;
  return a.n >> shift === b.n >> shift;
}

function peerMatches(peer: Peer, other: Endpoint, policyNamespace: string): boolean {
  if (peer.ipBlock !== undefined) {
    return (
      inCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c))
    );
  }
  if (other.pod === undefined) return false;
  const nsOk =
    peer.namespaceSelector === undefined
      ? other.pod.namespace === policyNamespace
      : selects(peer.namespaceSelector, other.pod.namespaceLabels);
  const podOk = peer.podSelector === undefined || selects(peer.podSelector, other.pod.labels);
  return nsOk && podOk;
}

function portMatches(ports: readonly Port[] | undefined, c: Connection): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== c.protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') return p.port === c.portName;
    return p.endPort === undefined ? p.port === c.port : c.port >= p.port && c.port <= p.endPort;
  });
}

/**
 * Is a connection from `src` to `dst` allowed? Egress of the source and
 * ingress of the destination must both allow it (a side no policy selects
 * for that direction allows everything).
 */
export function allowed(
  policies: readonly NetworkPolicy[],
  src: Endpoint,
  dst: Endpoint,
  c: Connection,
): boolean {
  const side = (pod: Endpoint, other: Endpoint, dir: Direction): boolean => {
    if (pod.pod === undefined) return true;
    const selecting = policiesFor(policies, pod.pod, dir);
    if (selecting.length === 0) return true;
    return selecting.some((p) =>
      (dir === 'Egress' ? (p.spec.egress ?? []) : (p.spec.ingress ?? [])).some((r) => {
        const peers = dir === 'Egress' ? r.to : r.from;
        const peerOk =
          peers === undefined ||
          peers.length === 0 ||
          peers.some((peer) => peerMatches(peer, other, p.metadata.namespace ?? 'default'));
        return peerOk && portMatches(r.ports, c);
      }),
    );
  };
  return side(src, dst, 'Egress') && side(dst, src, 'Ingress');
}
