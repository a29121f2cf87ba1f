import { render } from 'ink';
import { createElement } from 'react';
import { operatorAct } from '../controller/enforcement.js';
import type { LaunchRow } from '../controller/fleet.js';
import { UsageError } from '../errors.js';
import { Dashboard, type DashboardAction } from '../tui/dashboard.js';
import { exit, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { backendName, services } from './services.js';
import { readFleet } from './usage.js';

/** Carries out a dashboard key on a bottle, as the CLI commands do. */
export async function dashboardAct(
  ctx: CliContext,
  action: DashboardAction,
  row: LaunchRow,
): Promise<string> {
  const backend = services(ctx).backend(backendName(ctx));
  const bottle = await findActive(backend, row.slug);
  const done = await operatorAct(backend, ctx.env, bottle, action, {
    via: 'the dashboard',
    controllerAlive: controllerAlive(bottle),
    // Teardown progress would tear through the live view; the status line says the outcome.
    progress: () => undefined,
  });
  switch (action) {
    case 'cutoff':
      return `cut off the metered calls of ${row.slug} (c again lifts it)`;
    case 'lift':
      return `${row.slug} may make metered calls again`;
    case 'freeze':
      return `froze ${row.slug} as ${bottle.identity} (${done.image ?? ''}); bot-bottle resume ${bottle.identity}`;
    case 'kill':
      return `killed ${row.slug}`;
    case 'stop':
      return done.stopped === 'agent-stopped'
        ? `stopped ${row.slug}; its work came home`
        : `${row.slug} had no controller; removed it`;
  }
}

export function register(program: Program, ctx: CliContext): void {
  program
    .command('dashboard')
    .description(
      'live view of every running bottle: usage against budget, rate, last action; keys act on one',
    )
    .addHelpText(
      'after',
      `
Keys: up/down (or j/k) select, c cut off metered calls (again: lift), f freeze,
s stop, x kill, q quit. Freeze, stop and kill ask to confirm with y.
Needs a terminal; for scripts use \`bot-bottle usage --json\`.`,
    )
    .action(async () => exit(await runDashboard(ctx)));
}

async function runDashboard(ctx: CliContext): Promise<number> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new UsageError(
      'the dashboard needs a terminal (stdin and stdout)',
      'for scripts: bot-bottle usage --json',
    );
  }
  const app = render(
    createElement(Dashboard, {
      load: () =>
        readFleet({ ...ctx, io: { out: () => undefined, err: () => undefined } }, undefined),
      act: (action, row) => dashboardAct(ctx, action, row),
    }),
  );
  await app.waitUntilExit();
  return 0;
}
