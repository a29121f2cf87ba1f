import { render } from 'ink';
import { createElement } from 'react';
import type { ActiveBottle, Backend } from '../backend/backend.js';
import { RefusalReader } from '../controller/egress-refusals.js';
import { operatorAct, recordOperator } from '../controller/enforcement.js';
import { parseSince, type LaunchRow } from '../controller/fleet.js';
import { hostsOf, operatorView, type OperatorView } from '../controller/operator-view.js';
import { UsageError } from '../errors.js';
import { pendingOf } from '../supervise/answer.js';
import { Dashboard, type DashboardAction } from '../tui/dashboard.js';
import { applyTuiDecision, type TuiDecision } from '../tui/proposal-answer.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { printJson } from './output.js';
import { backendName, services } from './services.js';
import { itemJson } from './supervise.js';
import { fleetOf } from './usage.js';

/** Carries out a dashboard key on a bottle, as the CLI commands do. */
export async function dashboardAct(
  ctx: CliContext,
  action: DashboardAction,
  row: LaunchRow,
): Promise<string> {
  if (row.remote) return remoteAct(ctx, action, row);
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

/**
 * A key on another host's bottle: a cutoff is a row in the shared ledger,
 * which that host's controller reads at each admission; the rest needs the
 * engine the bottle runs on, so it is done on its host.
 */
async function remoteAct(
  ctx: CliContext,
  action: DashboardAction,
  row: LaunchRow,
): Promise<string> {
  const host = row.host ?? 'another host';
  if (action !== 'cutoff' && action !== 'lift') {
    throw new UsageError(
      `${row.slug} runs on host ${host}: ${action} it there (bot-bottle ${action} ${row.slug})`,
    );
  }
  await recordOperator(
    ctx.env,
    row.slug,
    row.identity,
    action === 'lift' ? 'restore' : 'cutoff',
    `${action === 'lift' ? 'metered calls allowed again' : 'metered calls cut off'} by the dashboard on another host`,
  );
  return action === 'lift'
    ? `${row.slug} (host ${host}) may make metered calls again`
    : `cut off the metered calls of ${row.slug} on host ${host} (c again lifts it)`;
}

const DEFAULT_SINCE = '24h';

function define(program: Program) {
  return program
    .command('dashboard')
    .description(
      "the operator view: every bottle's usage against budget, refusals, redactions and pending proposals; keys act and answer",
    )
    .option(
      '--since <when>',
      `also show launches that are not running but were active since then (2026-11-21, 30m, 24h, 7d; default ${DEFAULT_SINCE})`,
    )
    .option(
      '--json',
      'print one snapshot as JSON (shape: docs/dashboard.md) instead of the live view',
    )
    .addHelpText(
      'after',
      `
One row per bottle (running first, then launches active since --since), read
from the ledger: usage against its effective budget (bar, used/limit), its own
tokens, tokens/min; under it what was refused (egress: requests the proxy
refused, from its egress log; budget: cutoff/freeze/kill actions in the
ledger), counts and the latest of each; secrets redacted from its LLM requests
by kind; and the proposals it waits on (egress-block, cred-proxy-block,
capability-block), answered right here as in \`bot-bottle supervise\`.

Keys:
  ↑/↓ or k/j  select a bottle or one of its proposals
  a           approve the selected proposal (on a bottle: its oldest)
  m           modify it: opens $EDITOR on the proposed file, then applies yours
  r           reject it (notes go back to the agent)
  c           cut off the bottle's metered calls (again: lift)
  f / s / x   freeze / stop / kill the bottle (asks y/n)
  q or Esc    quit
An answer asks what supervise asks: apply anyway if the proposal was made
against a config that changed since (n: not applied), rebuild now, credential
value sources, save to the bottle's file, notes for the agent.

Examples:
  bot-bottle dashboard
  bot-bottle dashboard --since 7d
  bot-bottle dashboard --json | jq '.bottles[] | {slug, pending: (.pending | length)}'`,
    );
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (opts) => exit(await runDashboard(ctx, opts)));
}

/** Reads the whole view: the ledger and the engine, the queue, the egress logs. */
export function viewLoader(
  ctx: CliContext,
  backend: Backend,
  since: string,
): () => Promise<OperatorView> {
  const reader = new RefusalReader(backend, ctx.env);
  return async () => {
    let active: ActiveBottle[] = [];
    let engineError: string | undefined;
    try {
      active = await backend.enumerateActive();
    } catch (e) {
      // The ledger still answers: show it, and say why no bottle shows as running.
      engineError = `cannot list running bottles (${e instanceof Error ? e.message : String(e)}); showing the ledger only`;
    }
    const fleet = await fleetOf(ctx, active, undefined);
    const view = await operatorView({
      fleet,
      queue: pendingOf(ctx.env, active),
      since,
      refusals: (r) => reader.read(r),
    });
    return engineError === undefined ? view : { ...view, warning: engineError };
  };
}

/** `dashboard --json`: the view with proposals as `supervise --json` prints them. */
export function viewJson(v: OperatorView): Record<string, unknown> {
  return {
    at: v.at,
    since: v.since,
    hosts: hostsOf(v.rows),
    bottles: v.rows.map(({ egressRefusals, pending, redactions, redactionKinds, ...r }) => ({
      ...r,
      refusals: {
        egress: egressRefusals,
        budget: { count: r.enforcements, latest: r.enforcements === 0 ? null : r.lastAction },
      },
      redactions: { total: redactions, byKind: redactionKinds },
      pending: pending.map(itemJson),
    })),
    providers: v.providers,
    problems: v.problems,
    ...(v.warning === undefined ? {} : { warning: v.warning }),
  };
}

async function runDashboard(ctx: CliContext, opts: OptionsOf<typeof define>): Promise<number> {
  const raw = opts.since ?? DEFAULT_SINCE;
  const since = parseSince(raw);
  if (since === undefined) {
    throw new UsageError(
      `--since: expected an ISO time (2026-11-21, 2026-11-21T09:00Z) or a span such as 30m, 24h, 7d; got ${JSON.stringify(raw)}`,
    );
  }
  const backend = services(ctx).backend(backendName(ctx));
  const load = viewLoader(ctx, backend, since);
  if (opts.json === true) {
    printJson(ctx.io, viewJson(await load()));
    return 0;
  }
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new UsageError(
      'the dashboard needs a terminal (stdin and stdout)',
      'for scripts: bot-bottle dashboard --json',
    );
  }
  let status = '';
  let select: string | undefined;
  for (;;) {
    let chosen: TuiDecision | undefined;
    const app = render(
      createElement(Dashboard, {
        load,
        act: (action, row) => dashboardAct(ctx, action, row),
        decide: (d) => {
          chosen = d;
        },
        status,
        ...(select === undefined ? {} : { select }),
      }),
    );
    await app.waitUntilExit();
    app.cleanup();
    const d: TuiDecision | undefined = chosen;
    if (d === undefined) return 0;
    // The view has let go of the terminal: modify's editor and a `?` value can use it.
    status = await applyTuiDecision(ctx, backend, d);
    select = d.item.identity;
  }
}
