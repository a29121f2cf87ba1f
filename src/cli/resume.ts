import { loadSaved } from '../controller/state.js';
import { UsageError } from '../errors.js';
import { loadConfigWithTrust } from '../trust/assess.js';
import { assertPlanTrusted } from '../trust/entries.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { backendName, services } from './services.js';
import { launchAndReport, makePlan, parseBudget, superviseChoice, uniquifyLabel } from './start.js';
import { rebuildPending } from '../supervise/rebuild.js';

function define(program: Program) {
  return program
    .command('resume')
    .description("continue a saved bottle with the agent CLI's continue flag")
    .argument('<identity>', 'a saved bottle (see bot-bottle ps --all)')
    .option('--headless', 'run without a terminal; needs --prompt')
    .option('--prompt <text>', 'the task for a --headless run')
    .option(
      '--budget <tokens>',
      'token budget for this launch only (e.g. after a budget froze it): 2000000, 500k, 2m',
    )
    .option('--json', 'print the launch record as JSON')
    .option('--supervise', 'run the supervise sidecar (default: on unless --headless)')
    .option('--no-supervise', 'run without the supervise sidecar')
    .option(
      '--rm',
      'forget the bottle when this session ends: no saved bottle stays (the work still comes home)',
    );
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (identity, opts) => exit(await runResume(ctx, identity, opts)));
}

/**
 * Bring a saved bottle back: its image holds the workspace and the CLI's
 * conversation; the agent continues with the CLI's own continue flag. The
 * current configuration applies (allowlist, env), so access changes made
 * while it was saved take effect.
 */
async function runResume(
  ctx: CliContext,
  identity: string,
  opts: OptionsOf<typeof define>,
): Promise<number> {
  const svc = services(ctx);
  const saved = loadSaved(ctx.env, identity);
  if (saved === undefined) {
    throw new UsageError(
      `no saved bottle '${identity}'`,
      '`bot-bottle ps --all` lists saved bottles',
    );
  }
  if (saved.reason === 'running') {
    throw new UsageError(
      `bottle ${identity} is running (or its launch crashed)`,
      '`bot-bottle ps` shows it; `bot-bottle prune` cleans up after a crash',
    );
  }
  const headless = opts.headless === true;
  if (headless && (opts.prompt === undefined || opts.prompt.trim() === '')) {
    throw new UsageError(
      `--headless requires --prompt: bot-bottle resume ${identity} --headless --prompt 'Carry on'`,
    );
  }
  // A saved bottle's image lives in the engine that saved it.
  const backend = svc.backend(backendName(ctx, saved.plan.backend));
  const active = new Set((await backend.enumerateActive()).map((a) => a.slug));
  const { index, trust } = loadConfigWithTrust({ cwd: ctx.cwd, env: ctx.env });
  const literals = new Map<string, string>();
  const plan = makePlan(
    ctx,
    index,
    {
      agent: saved.agent,
      bottles: saved.bottles,
      label: uniquifyLabel(saved.label, active),
      color: saved.color ?? undefined,
      budget: parseBudget(opts.budget),
      backend: backend.name,
    },
    literals,
    trust,
  );
  // A resume asks nothing first, so an untrusted layer that would act on the host is refused.
  assertPlanTrusted(plan, `resuming ${identity}`);
  return launchAndReport(ctx, svc, {
    plan,
    literals,
    agentPrompt: '',
    headlessPrompt: headless ? opts.prompt : undefined,
    json: opts.json === true,
    resume: await rebuildPending(backend, ctx.env, saved, (l) => {
      ctx.io.err(`bot-bottle: ${l}`);
    }),
    supervise: superviseChoice(plan.agent.provider, headless, opts.supervise),
    rm: opts.rm === true,
  });
}
