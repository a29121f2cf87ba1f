import { ConfigError } from '../errors.js';
import { didYouMean } from '../util/suggest.js';
import type { ConfigIndex, LoadedBottle } from './load.js';
import type { BottleSpec, HeaderValueInput } from './schema.js';

function unionInOrder(
  a: readonly string[] | undefined,
  b: readonly string[] | undefined,
): string[] {
  return [...new Set([...(a ?? []), ...(b ?? [])])];
}

/**
 * Merge `over` onto `base`. The same rules serve `extends` (child over
 * parent) and composition of several bottles at launch (later over earlier):
 *
 * - scalars (`runtime`, `cutoff`) and `git` fields: the later value wins;
 * - maps (`env`, `budget`, `api`, `egress.hosts`): merged key by key, the
 *   later value wins;
 * - `egress.allow`, `egress.deny`, `image.apt`: appended, duplicates dropped;
 * - `image.dockerfile`: appended in order (earlier lines run first);
 * - `ssh`: keyed by `Host`; a later entry replaces an earlier one whole;
 * - `egress.routes`: keyed by host; headers merged by name
 *   (case-insensitive), the later value wins.
 *
 * Deny entries are never removed by a later bottle: the proxy lets deny
 * win over allow, so composition can only narrow what a deny forbids.
 */
export function mergeBottleSpecs(base: BottleSpec, over: BottleSpec): BottleSpec {
  const out: BottleSpec = {};
  const env = { ...base.env, ...over.env };
  if (Object.keys(env).length > 0) out.env = env;

  const ssh = new Map<string, NonNullable<BottleSpec['ssh']>[number]>();
  for (const e of [...(base.ssh ?? []), ...(over.ssh ?? [])]) ssh.set(e.Host, e);
  if (ssh.size > 0) out.ssh = [...ssh.values()];

  if (base.git !== undefined || over.git !== undefined) out.git = { ...base.git, ...over.git };

  if (base.egress !== undefined || over.egress !== undefined) {
    const routes = new Map<string, Record<string, HeaderValueInput>>();
    for (const r of [...(base.egress?.routes ?? []), ...(over.egress?.routes ?? [])]) {
      const headers = routes.get(r.host) ?? {};
      for (const [name, value] of Object.entries(r.headers)) {
        for (const existing of Object.keys(headers)) {
          if (existing.toLowerCase() === name.toLowerCase())
            Reflect.deleteProperty(headers, existing);
        }
        headers[name] = value;
      }
      routes.set(r.host, headers);
    }
    out.egress = {
      allow: unionInOrder(base.egress?.allow, over.egress?.allow),
      deny: unionInOrder(base.egress?.deny, over.egress?.deny),
      routes: [...routes].map(([host, headers]) => ({ host, headers })),
    };
    const passthrough = unionInOrder(base.egress?.passthrough, over.egress?.passthrough);
    if (passthrough.length > 0) out.egress.passthrough = passthrough;
    const rules = [...(base.egress?.rules ?? []), ...(over.egress?.rules ?? [])];
    if (rules.length > 0) out.egress.rules = rules;
    const mode = over.egress?.mode ?? base.egress?.mode;
    if (mode !== undefined) out.egress.mode = mode;
    const llm = over.egress?.llm ?? base.egress?.llm;
    if (llm !== undefined) out.egress.llm = llm;
    const hosts = { ...base.egress?.hosts, ...over.egress?.hosts };
    if (Object.keys(hosts).length > 0) out.egress.hosts = hosts;
  }

  const runtime = over.runtime ?? base.runtime;
  if (runtime !== undefined) out.runtime = runtime;
  const cutoff = over.cutoff ?? base.cutoff;
  if (cutoff !== undefined) out.cutoff = cutoff;

  if (base.image !== undefined || over.image !== undefined) {
    out.image = {
      apt: unionInOrder(base.image?.apt, over.image?.apt),
      dockerfile: [...(base.image?.dockerfile ?? []), ...(over.image?.dockerfile ?? [])],
    };
  }
  const api = { ...base.api, ...over.api };
  if (Object.keys(api).length > 0) out.api = api;
  const budget = { ...base.budget, ...over.budget };
  if (Object.keys(budget).length > 0) out.budget = budget;
  return out;
}

/** The `extends` chain of `name`, root first, leaf last. */
export function bottleChain(
  index: Pick<ConfigIndex, 'bottles'>,
  name: string,
  show: (p: string) => string,
): LoadedBottle[] {
  const chain: LoadedBottle[] = [];
  const seen: string[] = [];
  let cur: string | undefined = name;
  while (cur !== undefined) {
    const b = index.bottles.get(cur);
    if (b === undefined) {
      // Only reachable for a dangling `extends`; callers check the root name.
      const child = index.bottles.get(seen[seen.length - 1] ?? '');
      throw new ConfigError(
        {
          file: child ? show(child.file) : undefined,
          entity: `bottle '${child?.name ?? name}'`,
          field: 'extends',
        },
        `extends bottle '${cur}', which is not defined${didYouMean(cur, index.bottles.keys())}`,
        `defined bottles: ${[...index.bottles.keys()].join(', ') || '(none)'}`,
      );
    }
    if (seen.includes(cur)) {
      const cycle = [...seen.slice(seen.indexOf(cur)), cur].join(' -> ');
      throw new ConfigError(
        { file: show(b.file), entity: `bottle '${cur}'`, field: 'extends' },
        `extends chain has a cycle: ${cycle}`,
      );
    }
    seen.push(cur);
    chain.unshift(b);
    cur = b.spec.extends;
  }
  return chain;
}

/** The bottle with its `extends` ancestors merged in. */
export function resolveBottle(
  index: Pick<ConfigIndex, 'bottles'>,
  name: string,
  show: (p: string) => string,
): { chain: LoadedBottle[]; spec: BottleSpec } {
  const chain = bottleChain(index, name, show);
  let spec: BottleSpec = {};
  for (const b of chain) spec = mergeBottleSpecs(spec, b.spec);
  return { chain, spec };
}

export function checkReferences(index: ConfigIndex, show: (p: string) => string): void {
  for (const b of index.bottles.values()) bottleChain(index, b.name, show);
  for (const a of index.agents.values()) {
    const loc = { file: show(a.file), entity: `agent '${a.name}'` };
    const bottle = a.spec.bottle;
    if (bottle !== undefined && !index.bottles.has(bottle)) {
      throw new ConfigError(
        { ...loc, field: 'bottle' },
        `names bottle '${bottle}', which is not defined${didYouMean(bottle, index.bottles.keys())}`,
        `defined bottles: ${[...index.bottles.keys()].join(', ') || '(none)'}`,
      );
    }
    (a.spec.skills ?? []).forEach((skill, i) => {
      if (!index.skills.has(skill)) {
        throw new ConfigError(
          { ...loc, field: `skills[${i}]` },
          `names skill '${skill}', which is not defined${didYouMean(skill, index.skills.keys())}`,
          'a skill is a directory .bot-bottle/skills/<name>/ (or ~/.bot-bottle/skills/<name>/) holding SKILL.md',
        );
      }
    });
  }
}
