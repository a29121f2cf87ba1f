import { Option } from '@commander-js/extra-typings';
import type { Backend } from '../backend/backend.js';
import type { LaunchRecord } from '../controller/session.js';
import { describeRedactions } from '../egress/redact.js';
import type { SavedBottle } from '../controller/state.js';
import { ExitCode, UsageError } from '../errors.js';
import type { ConfigIndex } from '../manifest/load.js';
import { loadConfigWithTrust, type TrustAssessment } from '../trust/assess.js';
import { buildPlan, type PlanRequest } from '../plan/build.js';
import { ANSI_COLORS, BACKENDS, type BottlePlan } from '../plan/schema.js';
import { slugify } from '../plan/slug.js';
import { loadSettings } from '../settings/settings.js';
import { applyKeep } from '../controller/keep.js';
import { describeExpiry } from './saved.js';
import { renderPreflight } from '../tui/preflight.js';
import { gitToplevel } from '../util/exec.js';
import { parseTokenCount } from '../util/tokens.js';
import { collect, exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';
import { continuePrompt, rebuildIfRequested } from '../supervise/rebuild.js';
import { mcpRegistration } from '../supervise/host.js';
import { PROVIDER_INFO } from '../providers/registry.js';
import { type Services, backendName, services } from './services.js';
import { gateTrust } from './trust-gate.js';
import { k8sFlagsGiven, startOnCluster } from './start-cluster.js';

function define(program: Program) {
  return program
    .command('start')
    .description('launch an agent in a bottle (with --dry-run: print the plan and create nothing)')
    .argument('[agent]', 'agent name (a file .bot-bottle/agents/<agent>.md)')
    .addOption(
      new Option(
        '--bottle <name>',
        'bottle to compose; repeat to compose several, in order (later wins)',
      )
        .argParser(collect)
        .default([], "the agent's own bottle"),
    )
    .option(
      '--label <label>',
      'label of the running bottle (default: the agent name); its slug names containers and the git branch',
    )
    .addOption(new Option('--color <color>', 'terminal color of the bottle').choices(ANSI_COLORS))
    .option(
      '--budget <tokens>',
      'token budget for this launch only, e.g. 2000000, 500k, 2m (overrides every configured budget)',
    )
    .addOption(
      new Option('--backend <name>', 'container backend')
        .choices(BACKENDS)
        .env('BOT_BOTTLE_BACKEND'),
    )
    .option(
      '--headless',
      'run without a terminal: needs an agent name and --prompt; no pickers, no confirmation',
    )
    .option('--prompt <text>', 'the task for a --headless run (one argument to the agent CLI)')
    .option('-y, --yes', 'skip the launch confirmation of an interactive start')
    .option(
      '--supervise',
      'run the supervise sidecar: MCP tools the agent uses to ask for access (default: on unless --headless; never for pi)',
    )
    .option('--no-supervise', 'run without the supervise sidecar')
    .option(
      '--rm',
      'keep nothing when the session ends: no saved bottle to resume (the work still comes home as a branch)',
    )
    .option('--dry-run', 'resolve and print the plan; create nothing (also BOT_BOTTLE_DRY_RUN=1)')
    .option(
      '--json',
      'with --dry-run: the plan (schema/bottle-plan.schema.json; with --backend kubernetes: the rendered objects); otherwise: the launch record, with the agent output captured',
    )
    .option(
      '--k8s-namespace <ns>',
      'kubernetes: the namespace the bottle goes in (default: default)',
    )
    .option(
      '--k8s-runtime-class <name>',
      "kubernetes: the agent pod's RuntimeClass (default: gvisor; 'none': the cluster's default runtime)",
    )
    .option(
      '--k8s-template',
      'kubernetes: a SandboxTemplate, SandboxWarmPool and SandboxClaim instead of a Sandbox',
    )
    .option(
      '--k8s-agent-image <ref>',
      'kubernetes: the agent image (default: bot-bottle-<provider>)',
    )
    .option(
      '--k8s-egress-image <ref>',
      'kubernetes: the egress proxy image (default: bot-bottle-egress)',
    )
    .option(
      '--k8s-controller-image <ref>',
      'kubernetes: the in-cluster controller image (default: bot-bottle-controller; built from a checkout, see docs/kubernetes.md)',
    )
    .addOption(
      new Option(
        '--k8s-ledger-cidr <cidr>',
        'kubernetes: an address range the controller reaches the shared ledger at (needed when BOT_BOTTLE_LEDGER_URL names a host); repeatable',
      )
        .argParser(collect)
        .default([] as string[], 'the ledger host, when it is an address'),
    )
    .addHelpText(
      'after',
      `
Without --headless on a terminal, missing choices are asked for: agent
(type to filter), bottles, label and color, then a y/N confirmation. The
agent runs on this terminal. When it exits, its commits (and uncommitted
changes, as a final commit) arrive in this repository as branch
bot-bottle/<slug>, and the bottle is saved for \`bot-bottle resume\`
(with --rm: not saved). settings.yml \`keep:\` limits how many saved
bottles stay (docs/configuration.md).

The exit code is the agent CLI's.

With --backend kubernetes (docs/kubernetes.md) nothing runs on this host:
the bottle is rendered as Kubernetes objects (agent Sandbox, egress proxy
Deployment and Service, NetworkPolicies, ConfigMaps, Secrets) and, without
--dry-run, applied with kubectl. It needs BOT_BOTTLE_LEDGER_URL (the
shared store). --dry-run --json prints the objects with every secret
value shown as <redacted>.

Examples:
  bot-bottle start claude
  bot-bottle start claude --headless --prompt 'Fix the failing test' --json
  bot-bottle start claude --bottle base --bottle github --label fix-ci --dry-run --json
  bot-bottle start claude --backend kubernetes --dry-run --json`,
    );
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (agent, opts) => exit(await runStart(ctx, agent, opts)));
}

const HEADLESS_EXAMPLE = `bot-bottle start <agent> --headless --prompt 'Do the thing'`;

/**
 * A label whose slug no running bottle uses: the label itself, else
 * `<label>-2`, `-3`, ... Orchestrators start many bottles of one agent, so
 * picking a free name beats failing on every collision.
 */
export function uniquifyLabel(label: string, activeSlugs: ReadonlySet<string>): string {
  if (!activeSlugs.has(slugify(label))) return label;
  let n = 2;
  while (activeSlugs.has(slugify(`${label}-${n}`))) n++;
  return `${label}-${n}`;
}

export function parseBudget(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const budget = parseTokenCount(raw);
  if (budget === undefined) {
    throw new UsageError(
      `--budget: expected a positive token count such as 2000000, 500k or 2m, got ${JSON.stringify(raw)}`,
    );
  }
  return budget;
}

/** What `start` and `resume` decide; the rest of a plan request comes from the context. */
export type PlanInput = Omit<PlanRequest, 'workspace' | 'cwd' | 'env' | 'literals'>;

export function makePlan(
  ctx: CliContext,
  index: ConfigIndex,
  input: PlanInput,
  literals?: Map<string, string>,
  trust?: TrustAssessment,
): BottlePlan {
  const settings = loadSettings({ cwd: ctx.cwd, env: ctx.env });
  return buildPlan(index, settings, {
    ...input,
    workspace: gitToplevel(ctx.cwd) ?? ctx.cwd,
    cwd: ctx.cwd,
    env: ctx.env,
    trust,
    ...(literals === undefined ? {} : { literals }),
  });
}

function missingAgent(index: ConfigIndex, why = ''): UsageError {
  const names = [...index.agents.keys()];
  return new UsageError(
    `start needs an agent name: bot-bottle start <agent>${why}`,
    names.length > 0
      ? `defined agents: ${names.join(', ')}`
      : 'no agents are defined; run `bot-bottle init` first',
  );
}

async function activeSlugs(backend: Backend): Promise<Set<string>> {
  return new Set((await backend.enumerateActive()).map((a) => a.slug));
}

async function runStart(
  ctx: CliContext,
  agentArg: string | undefined,
  opts: OptionsOf<typeof define>,
): Promise<number> {
  const svc = services(ctx);
  const { index, trust } = loadConfigWithTrust({ cwd: ctx.cwd, env: ctx.env });
  const dryRun = opts.dryRun === true || ctx.env.BOT_BOTTLE_DRY_RUN === '1';
  const headless = opts.headless === true;
  const budget = parseBudget(opts.budget);
  const onCluster = backendName(ctx, opts.backend) === 'kubernetes';
  if (!onCluster && k8sFlagsGiven(opts)) {
    throw new UsageError('the --k8s-* options are for --backend kubernetes');
  }
  if (onCluster && (headless || opts.prompt !== undefined)) {
    throw new UsageError(
      '--headless and --prompt run the agent from this host; on kubernetes it is started in its pod',
      'render or apply the bottle: bot-bottle start <agent> --backend kubernetes [--dry-run]',
    );
  }

  if (headless) {
    if (agentArg === undefined) {
      throw new UsageError(`--headless requires an agent name: ${HEADLESS_EXAMPLE}`);
    }
    if (opts.prompt === undefined || opts.prompt.trim() === '') {
      throw new UsageError(`--headless requires --prompt: ${HEADLESS_EXAMPLE}`);
    }
  } else if (opts.prompt !== undefined) {
    throw new UsageError(
      '--prompt is for headless runs; add --headless',
      'an interactive session takes its first instruction on the terminal',
    );
  }
  // Pickers only ever fire for an interactive start on a terminal.
  const ask = !headless && svc.interactive;
  if (!onCluster && !headless && !dryRun && !svc.interactive && agentArg !== undefined) {
    throw new UsageError(
      'an interactive start needs a terminal (stdin and stdout are not both terminals)',
      `for unattended runs: bot-bottle start ${agentArg} --headless --prompt '...'`,
    );
  }

  let agent = agentArg;
  if (agent === undefined) {
    if (!ask) throw missingAgent(index, ' (no terminal to pick one on)');
    if (index.agents.size === 0) throw missingAgent(index);
    agent = await svc.ui.pickAgent(
      [...index.agents.values()].map((a) => ({
        name: a.name,
        hint: `${a.spec.provider}${a.spec.bottle === undefined ? '' : `, bottle ${a.spec.bottle}`}`,
      })),
    );
  }
  const agentEntry = index.agents.get(agent);

  let bottles = opts.bottle;
  if (bottles.length === 0 && agentEntry !== undefined) {
    if (ask && !dryRun) {
      bottles = await svc.ui.pickBottles(
        [...index.bottles.keys()],
        agentEntry.spec.bottle === undefined ? [] : [agentEntry.spec.bottle],
      );
    } else if (agentEntry.spec.bottle === undefined && headless) {
      throw new UsageError(
        `--headless: agent '${agent}' has no default bottle; pass one or more --bottle NAME`,
      );
    }
  }

  if (onCluster) {
    const literals = new Map<string, string>();
    const plan = makePlan(
      ctx,
      index,
      {
        agent,
        bottles,
        label: opts.label ?? agent,
        color: opts.color,
        budget,
        backend: 'kubernetes',
      },
      literals,
      trust,
    );
    return startOnCluster(ctx, svc, {
      plan,
      literals,
      prompt: agentEntry?.prompt ?? '',
      trust,
      flags: opts,
      dryRun,
      json: opts.json === true,
      yes: opts.yes === true,
      ask,
    });
  }
  const backend = dryRun ? undefined : svc.backend(backendName(ctx, opts.backend));
  const active = backend === undefined ? new Set<string>() : await activeSlugs(backend);
  let label = opts.label ?? agent;
  let color: string | undefined = opts.color;
  if (!dryRun) {
    if (ask && opts.label === undefined) {
      const chosen = await svc.ui.labelAndColor(uniquifyLabel(label, active));
      label = chosen.label;
      color ??= chosen.color;
    }
    const unique = uniquifyLabel(label, active);
    if (unique !== label) ctx.io.err(`bot-bottle: label '${label}' is in use; using '${unique}'`);
    label = unique;
  }

  const literals = new Map<string, string>();
  const planned = makePlan(
    ctx,
    index,
    { agent, bottles, label, color, budget, backend: opts.backend },
    literals,
    trust,
  );

  if (dryRun) {
    if (opts.json === true) {
      printJson(ctx.io, planned);
    } else {
      ctx.io.out(`bot-bottle start ${planned.agent.name}: dry run, nothing was created\n`);
      ctx.io.out(renderPreflight(planned));
    }
    return ExitCode.ok;
  }

  // An untrusted repository layer that would act on the host: refuse, or show and ask.
  const gate = await gateTrust(ctx, svc, planned, trust, {
    headless,
    yes: opts.yes === true,
    ask,
  });
  if (gate.outcome === 'declined') return ExitCode.ok;
  const plan = gate.plan;

  if (ask && opts.yes !== true && gate.outcome === 'trusted') {
    ctx.io.err(renderPreflight(plan));
    if (!(await svc.ui.confirm(`Launch ${plan.agent.name} in bottle ${plan.slug}?`))) {
      ctx.io.err('bot-bottle: not launched; nothing was created');
      return ExitCode.ok;
    }
  }
  const agentPrompt = agentEntry?.prompt ?? '';
  return launchAndReport(ctx, svc, {
    plan,
    literals,
    agentPrompt,
    headlessPrompt: headless ? opts.prompt : undefined,
    json: opts.json === true,
    resume: undefined,
    supervise: superviseChoice(plan.agent.provider, headless, opts.supervise),
    rm: opts.rm === true,
  });
}

/**
 * Whether the supervise sidecar runs: on for interactive runs, off for
 * headless ones unless asked (nobody may be there to answer), and never for
 * a CLI without an MCP client to reach it (pi).
 */
export function superviseChoice(
  provider: BottlePlan['agent']['provider'],
  headless: boolean,
  asked: boolean | undefined,
): boolean {
  if (mcpRegistration(provider) === undefined) {
    if (asked === true) {
      throw new UsageError(
        `--supervise: ${PROVIDER_INFO[provider].title} has no MCP client, so its agent could not reach the supervise tools`,
        'grant access from the host instead: bot-bottle egress allow|route <slug> ...',
      );
    }
    return false;
  }
  return asked ?? !headless;
}

export async function launchAndReport(
  ctx: CliContext,
  svc: Services,
  req: {
    plan: BottlePlan;
    literals: Map<string, string>;
    agentPrompt: string;
    headlessPrompt: string | undefined;
    json: boolean;
    resume: SavedBottle | undefined;
    supervise: boolean;
    /** `--rm`: the session keeps nothing. */
    rm: boolean;
  },
): Promise<number> {
  const say = (line: string): void => {
    ctx.io.err(`bot-bottle: ${line}`);
  };
  for (const w of req.plan.warnings) say(`warning: ${w}`);
  const headless = req.headlessPrompt !== undefined;
  const backend = svc.backend(req.plan.backend);
  const session = (resume: SavedBottle | undefined, headlessPrompt: string | undefined) =>
    svc.runSession({
      plan: req.plan,
      backend,
      env: ctx.env,
      literals: req.literals,
      agentPrompt: req.agentPrompt,
      headlessPrompt,
      tty: !headless && svc.interactive,
      captureOutput: req.json,
      resume,
      ask: svc.interactive ? (q) => svc.ui.secret(q) : undefined,
      progress: say,
      supervise: req.supervise,
      discard: req.rm,
    });
  let record = await session(req.resume, req.headlessPrompt);
  // An approved capability change with "rebuild now" froze the bottle: rebuild it and carry on.
  for (;;) {
    const rebuilt =
      record.outcome === 'frozen'
        ? await rebuildIfRequested(backend, ctx.env, record.identity, say)
        : undefined;
    if (rebuilt === undefined) break;
    record = await session(rebuilt, headless ? continuePrompt(rebuilt.lines) : undefined);
  }
  if (req.json) printJson(ctx.io, record);
  reportEnd(say, record);
  if (req.rm && record.outcome === 'ended') say('  not saved (--rm)');
  if (!req.rm) await keepAfterSession(ctx, backend, record.identity, say);
  return record.outcome === 'frozen' ? ExitCode.ok : record.exitCode;
}

/** settings.yml `keep:` after a session: older saved bottles go, never the one just saved. */
async function keepAfterSession(
  ctx: CliContext,
  backend: Backend,
  justSaved: string,
  say: (line: string) => void,
): Promise<void> {
  try {
    const rules = loadSettings({ cwd: ctx.cwd, env: ctx.env }).keep;
    if (rules === undefined) return;
    for (const f of await applyKeep(backend, ctx.env, rules, { protect: [justSaved] })) {
      say(`keep: removed saved bottle ${f.identity} (${describeExpiry(f.why, rules)})`);
    }
  } catch (e) {
    // The session itself succeeded; a retention failure is worth a line, not an error.
    say(`warning: applying keep: failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function reportEnd(say: (l: string) => void, r: LaunchRecord): void {
  const secs = (Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000;
  if (r.outcome === 'frozen') {
    say(
      `bottle ${r.slug} was frozen as ${r.identity}; continue with: bot-bottle resume ${r.identity}`,
    );
    return;
  }
  if (r.outcome === 'removed') {
    say(`bottle ${r.slug} was removed while the agent ran; its work was not saved`);
    return;
  }
  say(`${r.agent} in bottle ${r.slug} ended (agent exit ${r.exitCode}) after ${secs.toFixed(1)} s`);
  say(
    r.branch === null
      ? `  work: ${r.workNote}`
      : `  work: ${r.workNote}${r.committedLeftovers ? ' (uncommitted changes included as a final commit)' : ''}; your working tree and current branch were not touched (git log ${r.branch})`,
  );
  if (Object.keys(r.redactions).length > 0) {
    say(
      `  secrets redacted from its LLM requests: ${describeRedactions(r.redactions)} (bot-bottle egress log ${r.identity})`,
    );
  }
  if (r.resumeCommand !== null) say(`  saved as ${r.identity}; continue with: ${r.resumeCommand}`);
}
