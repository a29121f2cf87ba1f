import { createHash } from 'node:crypto';

/**
 * Kubernetes names and label values from bot-bottle's names. A slug is
 * already kebab-case, but the renderer does not rely on that: whatever
 * comes in (a label with odd characters, a long agent name) yields a valid
 * DNS-1123 label, and two different inputs never yield the same name (a
 * name that had to change carries a short hash of the original).
 */

/** DNS-1123 label: what a Service, a Pod and most objects' names must be. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A label value: at most 63 characters of this shape (empty allowed). */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_LABEL = 63;

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** Lower-case, `[a-z0-9-]` only, no leading, trailing or doubled dash. */
function kebab(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * `s` as a DNS-1123 label of at most `max` characters. Unchanged when it
 * already is one; otherwise cleaned, cut, and suffixed with a hash of `s`.
 */
export function dnsLabel(s: string, max = MAX_LABEL): string {
  if (s.length <= max && DNS1123_LABEL.test(s)) return s;
  const hash = shortHash(s);
  const room = max - hash.length - 1;
  const head = kebab(s).slice(0, room).replace(/-+$/, '');
  return head === '' ? `x${hash}`.slice(0, max) : `${head}-${hash}`;
}

/** `s` as a label value: unchanged when valid, else cleaned, cut and hashed like a name. */
export function labelValue(s: string): string {
  if (s.length <= MAX_LABEL && LABEL_VALUE.test(s)) return s;
  return dnsLabel(s);
}

/** The longest suffix a bottle's object names get (`-egress-policy`). */
const LONGEST_SUFFIX = '-egress-policy'.length;
const PREFIX = 'bb-';

/** The bottle's part of every object name: short enough for any suffix, and a DNS-1035 label with the prefix. */
export function bottleBase(slug: string): string {
  return dnsLabel(slug, MAX_LABEL - PREFIX.length - LONGEST_SUFFIX);
}

/** The names of one bottle's objects. */
export interface BottleNames {
  base: string;
  /** The agent Sandbox (and the pod the agent-sandbox controller makes for it). */
  sandbox: string;
  egress: string;
  egressService: string;
  policyConfig: string;
  caConfig: string;
  homeConfig: string;
  launchConfig: string;
  credentials: string;
  agentEnv: string;
  ledger: string;
  agentPolicy: string;
  egressPolicy: string;
}

export function bottleNames(slug: string): BottleNames {
  const base = `${PREFIX}${bottleBase(slug)}`;
  return {
    base,
    sandbox: `${base}-agent`,
    egress: `${base}-egress`,
    egressService: `${base}-egress`,
    policyConfig: `${base}-policy`,
    caConfig: `${base}-ca`,
    homeConfig: `${base}-home`,
    launchConfig: `${base}-launch`,
    credentials: `${base}-credentials`,
    agentEnv: `${base}-agent-env`,
    ledger: `${base}-ledger`,
    agentPolicy: `${base}-agent-policy`,
    egressPolicy: `${base}-egress-policy`,
  };
}

/**
 * The variables the kubelet sets in every pod for a Service that existed
 * when the pod started (`enableServiceLinks`): `<NAME>_SERVICE_HOST` and
 * `<NAME>_SERVICE_PORT`. The agent reaches its proxy through them, so it
 * needs no DNS.
 */
export function serviceEnvNames(service: string): { host: string; port: string } {
  const stem = service.toUpperCase().replace(/-/g, '_');
  return { host: `${stem}_SERVICE_HOST`, port: `${stem}_SERVICE_PORT` };
}
