import { render } from 'ink';
import { createElement } from 'react';
import { freezeBottle, killBottle, recordOperator, stopBottle } from '../controller/enforcement.js';
import type { LaunchRow } from '../controller/fleet.js';
import { UsageError } from '../errors.js';
import { Dashboard, type DashboardAction } from '../tui/dashboard.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { services } from './services.js';
import { readFleet } from './usage.js';

/** Carries out a dashboard key on a bottle, with the same primitives as the CLI commands. */
export async function dashboardAct(
  ctx: CliContext,
  action: DashboardAction,
  row: LaunchRow,
): Promise<string> {
  const backend = services(ctx).backend('docker');
  const bottle = await findActive(backend, row.slug);
  // Teardown progress would tear through the live view; the status line says the outcome.
  const quiet = (): void => undefined;
  switch (action) {
    case 'cutoff':
      await recordOperator(
        ctx.env,
        row.slug,
        bottle.identity,
        'cutoff',
        'cut off from the dashboard',
      );
      return `cut off the metered calls of ${row.slug} (c again lifts it)`;
    case 'lift':
      await recordOperator(
        ctx.env,
        row.slug,
        bottle.identity,
        'restore',
        'lifted from the dashboard',
      );
      return `${row.slug} may make metered calls again`;
    case 'freeze': {
      const image = await freezeBottle(backend, ctx.env, row.slug, bottle.identity, quiet);
      await recordOperator(
        ctx.env,
        row.slug,
        bottle.identity,
        'freeze',
        'frozen from the dashboard',
      );
      return `froze ${row.slug} as ${bottle.identity} (${image}); bot-bottle resume ${bottle.identity}`;
    }
    case 'kill':
      await recordOperator(ctx.env, row.slug, bottle.identity, 'kill', 'killed from the dashboard');
      await killBottle(backend, ctx.env, row.slug, bottle.identity, quiet);
      return `killed ${row.slug}`;
    case 'stop': {
      await recordOperator(
        ctx.env,
        row.slug,
        bottle.identity,
        'stop',
        'stopped from the dashboard',
      );
      const how = await stopBottle(backend, ctx.env, bottle, {
        controllerAlive: controllerAlive(bottle),
        timeoutMs: 60_000,
        progress: quiet,
      });
      return how === 'agent-stopped'
        ? `stopped ${row.slug}; its work came home`
        : `${row.slug} had no controller; removed it`;
    }
  }
}

export async function runDashboard(ctx: CliContext): Promise<number> {
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
