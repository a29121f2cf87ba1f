import { UnsupportedError, UsageError } from '../errors.js';
import { loadConfig } from '../manifest/load.js';
import { buildPlan } from '../plan/build.js';
import type { BottlePlan } from '../plan/schema.js';
import { loadSettings } from '../settings/settings.js';
import { renderPreflight } from '../tui/preflight.js';
import { gitToplevel } from '../util/exec.js';
import { parseTokenCount } from '../util/tokens.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';

export interface StartOptions {
  bottle: string[];
  label?: string;
  color?: string;
  budget?: string;
  backend?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function planFromArgs(
  ctx: CliContext,
  agent: string | undefined,
  opts: StartOptions,
): BottlePlan {
  const index = loadConfig({ cwd: ctx.cwd, env: ctx.env });
  if (agent === undefined) {
    const names = [...index.agents.keys()];
    throw new UsageError(
      'start needs an agent name: bot-bottle start <agent>',
      names.length > 0
        ? `defined agents: ${names.join(', ')}`
        : 'no agents are defined; run `bot-bottle init` first',
    );
  }
  let budget: number | undefined;
  if (opts.budget !== undefined) {
    budget = parseTokenCount(opts.budget);
    if (budget === undefined) {
      throw new UsageError(
        `--budget: expected a positive token count such as 2000000, 500k or 2m, got ${JSON.stringify(opts.budget)}`,
      );
    }
  }
  const settings = loadSettings({ cwd: ctx.cwd, env: ctx.env });
  return buildPlan(index, settings, {
    agent,
    bottles: opts.bottle,
    label: opts.label,
    color: opts.color,
    budget,
    backend: opts.backend,
    workspace: gitToplevel(ctx.cwd) ?? ctx.cwd,
    cwd: ctx.cwd,
    env: ctx.env,
  });
}

export function runStart(ctx: CliContext, agent: string | undefined, opts: StartOptions): number {
  const plan = planFromArgs(ctx, agent, opts);
  const dryRun = opts.dryRun === true || ctx.env.BOT_BOTTLE_DRY_RUN === '1';
  if (!dryRun) {
    throw new UnsupportedError(
      'this version of bot-bottle plans launches but does not start containers yet',
      `\`bot-bottle start ${plan.agent.name} --dry-run\` prints the plan`,
    );
  }
  if (opts.json === true) {
    printJson(ctx.io, plan);
  } else {
    ctx.io.out(`bot-bottle start ${plan.agent.name}: dry run, nothing was created\n`);
    ctx.io.out(renderPreflight(plan));
  }
  return 0;
}
