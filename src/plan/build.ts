import { accessSync, constants } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import { firstMatch, parseHostPattern } from '../egress/host-match.js';
import { displayPath, type ConfigIndex, type LoadedBottle } from '../manifest/load.js';
import { resolveBottle, mergeBottleSpecs } from '../manifest/resolve.js';
import { type BottleSpec, type HeaderValueInput } from '../manifest/schema.js';
import {
  classifyValue,
  expandHome,
  SentinelError,
  type ValueSource,
} from '../manifest/sentinel.js';
import { DEFAULT_API, GUEST_WORKSPACE, providerOf } from '../providers/registry.js';
import type { Settings } from '../settings/settings.js';
import { didYouMean } from '../util/suggest.js';
import { ANSI_COLORS, BACKENDS, type BackendName, type BottlePlan } from './schema.js';
import { slugify } from './slug.js';
import { DEFAULT_FLOOR } from '../controller/admission-decision.js';
import type { TrustAssessment } from '../trust/assess.js';
import { entryNeedsTrust, sourceActsOnHost } from '../trust/entries.js';

export interface PlanRequest {
  agent: string;
  /** Bottles to compose, in order. Empty: the agent's default bottle. */
  bottles: readonly string[];
  label?: string | undefined;
  color?: string | undefined;
  /** `--budget`: a token count for this launch only. */
  budget?: number | undefined;
  backend?: string | undefined;
  /** The directory copied into the bottle as /workspace. */
  workspace: string;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Receives the literal values of `env` entries by name. The plan itself
   * never holds a value; a launch needs them, a dry run does not.
   */
  literals?: Map<string, string>;
  /**
   * Whether the repository layer is trusted as it is now. Without it a
   * repository layer counts as untrusted: its host-acting entries are
   * marked `needsTrust`.
   */
  trust?:
    Pick<TrustAssessment, 'repoRoot' | 'state' | 'digest' | 'problem' | 'changes'> | undefined;
}

function sourceWarning(name: string, s: ValueSource, env: NodeJS.ProcessEnv): string | undefined {
  if (s.kind === 'env' && env[s.name] === undefined) {
    return `${name}: host variable ${s.name} is not set (env:${s.name}); set it before launching`;
  }
  if (s.kind === 'file') {
    try {
      accessSync(s.path, constants.R_OK);
    } catch {
      return `${name}: file ${s.path} is not readable (file:${s.path})`;
    }
  }
  return undefined;
}

/** `--backend` when given, else BOT_BOTTLE_BACKEND, else docker. */
export function chooseBackend(flag: string | undefined, env: NodeJS.ProcessEnv): BackendName {
  const raw =
    flag ?? (env.BOT_BOTTLE_BACKEND === '' ? undefined : env.BOT_BOTTLE_BACKEND) ?? 'docker';
  const found = BACKENDS.find((b) => b === raw);
  if (found === undefined) {
    const from = flag === undefined ? 'BOT_BOTTLE_BACKEND' : '--backend';
    throw new UsageError(
      `${from}: unknown backend '${raw}'${didYouMean(raw, BACKENDS)}; available: ${BACKENDS.join(', ')}`,
    );
  }
  return found;
}

/**
 * Resolve an agent, its bottles, host settings and flags into a BottlePlan.
 * Pure apart from reading the host environment and checking that referenced
 * files are readable (for warnings): nothing is created, no secret is read.
 */
/** Where a literal route header value waits in PlanRequest.literals. */
export const routeLiteralKey = (host: string, header: string): string =>
  `route ${host} ${header.toLowerCase()}`;

export function buildPlan(index: ConfigIndex, settings: Settings, req: PlanRequest): BottlePlan {
  const env = req.env ?? process.env;
  const show = (p: string): string => displayPath(p, req.cwd);
  const warnings: string[] = [];

  const agent = index.agents.get(req.agent);
  if (agent === undefined) {
    const names = [...index.agents.keys()];
    throw new UsageError(
      `unknown agent '${req.agent}'${didYouMean(req.agent, names)}`,
      names.length > 0
        ? `defined agents: ${names.join(', ')}`
        : 'no agents are defined; run `bot-bottle init` to write an example .bot-bottle/',
    );
  }
  const provider = agent.spec.provider;
  const info = providerOf(provider);

  let bottleNames = [...req.bottles];
  if (bottleNames.length === 0) {
    if (agent.spec.bottle === undefined) {
      throw new UsageError(
        `agent '${agent.name}' has no default bottle; pass one or more --bottle NAME`,
        `or add \`bottle: <name>\` to ${show(agent.file)}`,
      );
    }
    bottleNames = [agent.spec.bottle];
  }
  for (const b of bottleNames) {
    if (!index.bottles.has(b)) {
      const names = [...index.bottles.keys()];
      throw new UsageError(
        `--bottle: unknown bottle '${b}'${didYouMean(b, names)}`,
        `defined bottles: ${names.join(', ') || '(none)'}`,
      );
    }
  }
  const resolved = bottleNames.map((name) => ({ name, ...resolveBottle(index, name, show) }));
  let spec: BottleSpec = {};
  for (const r of resolved) spec = mergeBottleSpecs(spec, r.spec);

  // The entity that declared each value, for `file:` anchors and messages.
  const declaring = (pick: (s: BottleSpec) => boolean): LoadedBottle | undefined => {
    for (const r of [...resolved].reverse()) {
      for (const b of [...r.chain].reverse()) if (pick(b.spec)) return b;
    }
    return undefined;
  };
  const trustState = req.trust?.state ?? (index.repoRoot === undefined ? 'none' : 'untrusted');
  // Which layer an entry comes from, and whether it may act on the host as things stand.
  const marks = (
    owner: LoadedBottle | undefined,
    actsOnHost: boolean,
  ): { layer: 'home' | 'repo'; from: string | null; needsTrust: boolean } => {
    const layer = owner?.origin ?? 'repo';
    return {
      layer,
      from: owner?.name ?? null,
      needsTrust: entryNeedsTrust(layer, actsOnHost, trustState),
    };
  };
  const classifyFull = (
    raw: string,
    owner: LoadedBottle | undefined,
    field: string,
  ): { source: ValueSource; literal?: string } => {
    try {
      return classifyValue(raw, owner?.baseDir ?? req.cwd);
    } catch (e) {
      if (!(e instanceof SentinelError)) throw e;
      throw new ConfigError(
        {
          file: owner ? show(owner.file) : undefined,
          entity: owner ? `bottle '${owner.name}'` : undefined,
          field,
        },
        e.message,
      );
    }
  };

  const envEntries = Object.entries(spec.env ?? {}).map(([name, raw]) => {
    const owner = declaring((s) => s.env !== undefined && Object.hasOwn(s.env, name));
    const { source, literal } = classifyFull(raw, owner, `env.${name}`);
    if (literal !== undefined) req.literals?.set(name, literal);
    const w = sourceWarning(`env ${name}`, source, env);
    if (w !== undefined) warnings.push(w);
    return { name, source, ...marks(owner, sourceActsOnHost(source)) };
  });

  const allow = spec.egress?.allow ?? [];
  const deny = spec.egress?.deny ?? [];
  const routes = (spec.egress?.routes ?? []).map((r, i) => {
    const { host, port } = parseHostPattern(r.host);
    const owner = declaring((s) => (s.egress?.routes ?? []).some((x) => x.host === r.host));
    const loc = {
      file: owner ? show(owner.file) : undefined,
      entity: owner ? `bottle '${owner.name}'` : undefined,
    };
    if (firstMatch(allow, host, port) === undefined) {
      throw new ConfigError(
        { ...loc, field: `egress.routes[${i}].host` },
        `credential route for '${r.host}' but no egress.allow entry lets the bottle reach it`,
        `add '${r.host}' to egress.allow`,
      );
    }
    const denied = firstMatch(deny, host, port);
    if (denied !== undefined) {
      throw new ConfigError(
        { ...loc, field: `egress.routes[${i}].host` },
        `credential route for '${r.host}', which egress.deny entry '${denied}' blocks`,
      );
    }
    const headers = Object.entries(r.headers).map(([name, v]: [string, HeaderValueInput]) => {
      const raw = typeof v === 'string' ? v : v.secret;
      // Headers of one host merge by name across bottles: the last bottle that set this one owns it.
      const headerOwner = declaring((s) =>
        (s.egress?.routes ?? []).some(
          (x) =>
            x.host === r.host &&
            Object.keys(x.headers).some((n) => n.toLowerCase() === name.toLowerCase()),
        ),
      );
      const { source, literal } = classifyFull(
        raw,
        headerOwner,
        `egress.routes[${i}].headers.${name}`,
      );
      if (literal !== undefined) req.literals?.set(routeLiteralKey(r.host, name), literal);
      const w = sourceWarning(`route ${r.host} header ${name}`, source, env);
      if (w !== undefined) warnings.push(w);
      return {
        name,
        prefix: typeof v === 'string' ? null : (v.prefix ?? null),
        basicUser: typeof v === 'string' ? null : (v.basicUser ?? null),
        source,
        ...marks(headerOwner, sourceActsOnHost(source)),
      };
    });
    return { host: r.host, headers };
  });

  const wire = info.wire;
  const configured = spec.api?.[wire];
  const api: BottlePlan['api'] = {
    wire,
    baseUrl: (configured ?? DEFAULT_API[wire]).replace(/\/+$/, ''),
    source: configured === undefined ? 'default' : 'bottle',
  };
  {
    const u = new URL(api.baseUrl);
    const port = u.port === '' ? 443 : Number(u.port);
    const host = u.hostname.toLowerCase();
    if (firstMatch(allow, host, port) === undefined || firstMatch(deny, host, port) !== undefined) {
      warnings.push(
        `api: ${info.title} talks to ${api.baseUrl}, which the egress allowlist does not let through; add '${u.host}' to egress.allow`,
      );
    }
  }

  const ssh = (spec.ssh ?? []).map((e) => {
    const owner = declaring((s) => (s.ssh ?? []).some((x) => x.Host === e.Host));
    const identity = expandHome(e.IdentityFile);
    const identityFile = resolvePath(owner?.baseDir ?? req.cwd, identity);
    try {
      accessSync(identityFile, constants.R_OK);
    } catch {
      warnings.push(`ssh ${e.Host}: identity file ${identityFile} is not readable`);
    }
    return {
      host: e.Host,
      hostname: e.Hostname ?? null,
      user: e.User ?? null,
      port: e.Port ?? null,
      identityFile,
      knownHostKey: e.KnownHostKey !== undefined,
      hostKey: e.KnownHostKey ?? null,
      ...marks(owner, true),
    };
  });
  if (ssh.some((s) => !s.knownHostKey)) {
    warnings.push('ssh: an entry has no KnownHostKey; the first connection will not be verified');
  }

  // Scalars: the last composed bottle (leaf first within its chain) that sets one wins.
  // Scalars: the last composed bottle (leaf first within its chain) that
  // sets one wins, then host settings, then the built-in default.
  const effective = <T>(
    pick: (s: BottleSpec) => T | undefined,
    fromSettings: T | undefined,
    fallback: T,
  ): { value: T; source: 'bottle' | 'settings' | 'default'; from: string | null } => {
    const owner = declaring((s) => pick(s) !== undefined);
    const own = owner === undefined ? undefined : pick(owner.spec);
    if (owner !== undefined && own !== undefined)
      return { value: own, source: 'bottle', from: owner.name };
    if (fromSettings !== undefined)
      return { value: fromSettings, source: 'settings', from: show(settings.file) };
    return { value: fallback, source: 'default', from: null };
  };
  const rt = effective((s) => s.runtime, settings.defaultRuntime, 'runc');
  const runtime = { name: rt.value, source: rt.source, from: rt.from };
  const co = effective((s) => s.cutoff, settings.defaultCutoff, 'cutoff');
  const cutoff = { policy: co.value, source: co.source, from: co.from };

  // Budget precedence: launch flag, agent, bottle, parent bottle, host settings.
  const period = settings.spec.period ?? 'day';
  let budget: BottlePlan['budget'] = { provider, tokens: null, scope: 'none', from: null, period };
  if (req.budget !== undefined) {
    budget = {
      provider,
      tokens: req.budget,
      scope: 'launch',
      from: '--budget',
      period: 'launch',
    };
  } else if (agent.spec.budget !== undefined) {
    budget = { provider, tokens: agent.spec.budget, scope: 'agent', from: agent.name, period };
  } else {
    outer: for (const r of [...resolved].reverse()) {
      const chain = [...r.chain].reverse();
      for (const [depth, b] of chain.entries()) {
        const tokens = b.spec.budget?.[provider];
        if (tokens !== undefined) {
          budget = {
            provider,
            tokens,
            scope: depth === 0 ? 'bottle' : 'parent-bottle',
            from: b.name,
            period,
          };
          break outer;
        }
      }
    }
    const global = settings.spec.budget?.[provider];
    if (budget.scope === 'none' && global !== undefined) {
      budget = { provider, tokens: global, scope: 'global', from: show(settings.file), period };
    }
  }

  const rateFrom = declaring((b) => b.budget?.rate !== undefined);
  budget.rate = {
    launch: rateFrom?.spec.budget?.rate ?? null,
    launchFrom: rateFrom?.name ?? null,
    global: settings.spec.budget?.rate?.[provider] ?? null,
  };
  budget.capping = {
    enabled: settings.spec.budget?.cap ?? true,
    floor: settings.spec.budget?.floor ?? DEFAULT_FLOOR,
  };
  const countFrom = declaring((b) => b.budget?.count !== undefined);
  const count = countFrom?.spec.budget?.count ?? settings.spec.budget?.count;
  if (count !== undefined) budget.count = count;

  const label = req.label ?? agent.name;
  // eslint-disable-next-line no-control-regex -- labels become terminal titles: no control bytes
  if (label.trim() === '' || /[\x00-\x1f\x7f]/.test(label)) {
    throw new UsageError('--label must be a non-empty single line');
  }
  const slug = slugify(label);
  if (slug === '' || !/^[a-z]/.test(slug)) {
    throw new UsageError(
      `--label '${label}' gives no usable name; a label needs a letter first (it becomes the slug)`,
    );
  }
  let color: BottlePlan['color'] = null;
  if (req.color !== undefined) {
    const c = ANSI_COLORS.find((x) => x === req.color);
    if (c === undefined) {
      throw new UsageError(
        `--color: unknown color '${req.color}'${didYouMean(req.color, ANSI_COLORS)}; use one of: ${ANSI_COLORS.join(', ')}`,
      );
    }
    color = c;
  }

  const skills = (agent.spec.skills ?? []).map((name) => {
    const skill = index.skills.get(name);
    // loadConfig checked every skill reference; this guards direct callers.
    if (skill === undefined)
      throw new ConfigError({ entity: `agent '${agent.name}'` }, `unknown skill '${name}'`);
    return { name, source: skill.file, guestPath: `${info.skillsDir}/${name}` };
  });

  for (const ca of settings.extraCaFiles) {
    const w = sourceWarning('extra CA certificate', { kind: 'file', path: ca.path }, env);
    if (w !== undefined) warnings.push(w);
  }

  const mounts: BottlePlan['mounts'] = [
    {
      kind: 'copy',
      source: req.workspace,
      target: GUEST_WORKSPACE,
      readonly: false,
      purpose: 'workspace (git-tracked and untracked, not ignored)',
    },
    ...skills.map((s) => ({
      kind: 'copy' as const,
      source: s.source,
      target: s.guestPath,
      readonly: false,
      purpose: `skill ${s.name}`,
    })),
  ];
  if (agent.prompt !== '') {
    mounts.push({
      kind: 'copy',
      source: agent.file,
      target: info.promptPath,
      readonly: false,
      purpose: 'agent prompt',
    });
  }

  const plan: BottlePlan = {
    schemaVersion: 1,
    agent: {
      name: agent.name,
      provider,
      model: agent.spec.model ?? null,
      file: agent.file,
      prompt: { chars: agent.prompt.length, guestPath: info.promptPath },
      skills,
    },
    bottles: resolved.map((r) => ({
      name: r.name,
      chain: r.chain.map((b) => ({ name: b.name, file: b.file })),
    })),
    label,
    slug,
    color,
    backend: chooseBackend(req.backend, env),
    runtime,
    image: {
      base: settings.baseImage.ref,
      baseSource: settings.baseImage.source,
      provider: { npmPackage: info.npmPackage, npmVersion: info.npmVersion },
      apt: spec.image?.apt ?? [],
      dockerfile: spec.image?.dockerfile ?? [],
    },
    api,
    egress: {
      hosts: Object.entries(spec.egress?.hosts ?? {}).map(([name, address]) => ({
        name: name.toLowerCase(),
        address,
        ...marks(
          declaring((s) => s.egress?.hosts !== undefined && Object.hasOwn(s.egress.hosts, name)),
          true,
        ),
      })),
      allow,
      deny,
      passthrough: spec.egress?.passthrough ?? [],
      rules: (spec.egress?.rules ?? []).map((r) => ({
        host: r.host,
        methods: r.methods ?? null,
        paths: r.paths ?? null,
      })),
      mode: spec.egress?.mode ?? 'enforce',
      llm: spec.egress?.llm ?? 'redact',
      routes,
    },
    env: envEntries,
    ssh,
    git: { name: spec.git?.name ?? null, email: spec.git?.email ?? null },
    mounts,
    budget,
    cutoff,
    caCerts: settings.extraCaFiles,
    warnings,
    trust: {
      repoRoot: req.trust?.repoRoot ?? index.repoRoot ?? null,
      state: trustState,
      digest: req.trust?.digest ?? null,
      problem: req.trust?.problem ?? null,
      changes: req.trust?.changes ?? [],
      needed: 0,
      approvedOnce: false,
    },
    sources: {
      repoRoot: index.repoRoot ?? null,
      home: index.home,
      settings: { file: settings.file, exists: settings.exists },
      files: index.files,
    },
  };
  plan.trust.needed = [
    ...plan.env,
    ...plan.egress.routes.flatMap((r) => r.headers),
    ...plan.ssh,
    ...plan.egress.hosts,
  ].filter((e) => e.needsTrust).length;
  return plan;
}
