import { resolve } from 'node:path';
import type { ConfigIndex } from '../manifest/load.js';
import { expandHome, type ValueSource } from '../manifest/sentinel.js';
import { repoValueSources } from './inputs.js';
import type { BottlePlan, EntryLayer } from '../plan/schema.js';
import { describeTrust, TrustError, type TrustState } from './assess.js';

/**
 * The entries of a configuration that act on the host, and the rule that
 * decides which of them need trust. Literal values never act on the host;
 * every other value source does (`cmd:` runs a command, `file:` reads a
 * file, `env:` reads a variable, `?` asks the user), and so do ssh entries
 * (the identity file is copied into the bottle) and `egress.hosts` entries
 * (the proxy reaches them without the private-address checks).
 */

export interface HostAction {
  /** What the entry is, e.g. `env GH_TOKEN`, `route api.github.com header authorization`. */
  what: string;
  /** What it does on this host, in words. */
  does: string;
  layer: EntryLayer;
  /** The bottle that declares it. */
  bottle: string | null;
  /** The file that declares it (layer listings only). */
  file?: string;
}

export function sourceActsOnHost(source: ValueSource): boolean {
  return source.kind !== 'literal';
}

/** Whether an entry of `layer` that acts on the host may do so with the repository layer in `state`. */
export function entryNeedsTrust(
  layer: EntryLayer,
  actsOnHost: boolean,
  state: TrustState,
): boolean {
  return actsOnHost && layer === 'repo' && state !== 'trusted' && state !== 'none';
}

function sourceAction(s: ValueSource): string {
  switch (s.kind) {
    case 'literal':
      return 'uses text written in the file';
    case 'prompt':
      return 'asks you for a value (hidden input)';
    case 'env':
      return `reads the host variable ${s.name}`;
    case 'file':
      return `reads the host file ${s.path}`;
    case 'cmd':
      return `runs \`${s.command}\` on this host`;
  }
}

const envDoes = (s: ValueSource): string => `${sourceAction(s)}, into the agent's environment`;
const routeDoes = (s: ValueSource, host: string): string =>
  `${sourceAction(s)}, and the proxy sends it to ${host}`;
const sshDoes = (file: string): string =>
  `copies the host file ${file} (an ssh key) into the bottle`;
const hostsDoes = (name: string, address: string): string =>
  `sends ${name} to ${address}, exempt from the private-address checks`;

/** Every entry of the plan that acts on the host, with its marks. */
export function planHostActions(plan: BottlePlan): (HostAction & { needsTrust: boolean })[] {
  const state = plan.trust.state;
  const mark = (
    e: { layer: EntryLayer; from: string | null },
    acts: boolean,
    what: string,
    does: string,
  ): (HostAction & { needsTrust: boolean })[] =>
    acts
      ? [
          {
            what,
            does,
            layer: e.layer,
            bottle: e.from,
            needsTrust: entryNeedsTrust(e.layer, true, state),
          },
        ]
      : [];
  return [
    ...plan.env.flatMap((e) =>
      mark(e, sourceActsOnHost(e.source), `env ${e.name}`, envDoes(e.source)),
    ),
    ...plan.egress.routes.flatMap((r) =>
      r.headers.flatMap((h) =>
        mark(
          h,
          sourceActsOnHost(h.source),
          `route ${r.host} header ${h.name}`,
          routeDoes(h.source, r.host),
        ),
      ),
    ),
    ...plan.ssh.flatMap((s) => mark(s, true, `ssh ${s.host}`, sshDoes(s.identityFile))),
    ...plan.egress.hosts.flatMap((h) =>
      mark(h, true, `egress.hosts ${h.name}`, hostsDoes(h.name, h.address)),
    ),
  ];
}

/** The entries that need trust and are not allowed for this launch. */
export function untrustedActions(plan: BottlePlan): HostAction[] {
  if (plan.trust.approvedOnce) return [];
  return planHostActions(plan).filter((a) => a.needsTrust);
}

export function formatActions(actions: readonly HostAction[]): string[] {
  return actions.map(
    (a) => `  ${a.what}${a.bottle === null ? '' : ` (bottle ${a.bottle})`}: ${a.does}`,
  );
}

export const TRUST_HINT = (root: string | null): string =>
  `review .bot-bottle/ and bot-bottle.json${root === null ? '' : ` in ${root}`}, then run \`bot-bottle trust\` there (\`bot-bottle trust --show\` lists what it acts on)`;

/**
 * Refuse a launch whose plan still holds entries that need trust. Called by
 * the CLI before anything happens and again by the launch core before any
 * value is resolved, so no path reaches a host command unasked.
 */
export function assertPlanTrusted(plan: BottlePlan, why = 'this launch'): void {
  const actions = untrustedActions(plan);
  if (actions.length === 0) return;
  throw new TrustError(
    [
      `the repository layer${plan.trust.repoRoot === null ? '' : ` at ${plan.trust.repoRoot}`} is ${describeTrust({ ...plan.trust, trustedAt: null })}, and ${why} would act on this host:`,
      ...formatActions(actions),
    ].join('\n'),
    TRUST_HINT(plan.trust.repoRoot),
    {
      trust: { ...plan.trust },
      needsTrust: actions.map((a) => ({ what: a.what, does: a.does, bottle: a.bottle })),
    },
  );
}

/**
 * The host-acting entries the repository layer itself declares, bottle by
 * bottle (what `bot-bottle trust` vouches for). Entries of the home layer
 * are not listed: they need no trust.
 */
export function layerHostActions(index: ConfigIndex): HostAction[] {
  const out: HostAction[] = [];
  const at = (b: { name: string; file: string }) => ({
    layer: 'repo' as const,
    bottle: b.name,
    file: b.file,
  });
  for (const { bottle, what, source, routeHost } of repoValueSources(index)) {
    if (!sourceActsOnHost(source)) continue;
    const does = routeHost === undefined ? envDoes(source) : routeDoes(source, routeHost);
    out.push({ ...at(bottle), what, does });
  }
  for (const b of [...index.bottles.values()].filter((x) => x.origin === 'repo')) {
    for (const s of b.spec.ssh ?? []) {
      const file = resolve(b.baseDir, expandHome(s.IdentityFile));
      out.push({ ...at(b), what: `ssh ${s.Host}`, does: sshDoes(file) });
    }
    for (const [name, address] of Object.entries(b.spec.egress?.hosts ?? {})) {
      out.push({ ...at(b), what: `egress.hosts ${name}`, does: hostsDoes(name, address) });
    }
  }
  return out;
}
