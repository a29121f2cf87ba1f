import type { ActiveBottle } from '../backend/backend.js';
import { fleetView, parseSince, type FleetView, type LaunchRow } from '../controller/fleet.js';
import { UsageError } from '../errors.js';
import { withLedger } from '../ledger/open.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive } from './find.js';
import { formatTokens, shortTokens } from '../util/tokens.js';
import { printJson, table } from './output.js';
import { backendName, services } from './services.js';

export function budgetText(r: LaunchRow): string {
  // Another host's budget is in its own settings: not known here.
  if (r.budget === null) return r.running && !r.remote ? 'none' : '-';
  const pct = r.budget.limit === 0 ? 100 : Math.floor((100 * r.budget.used) / r.budget.limit);
  return `${shortTokens(r.budget.used)}/${shortTokens(r.budget.limit)} (${pct}%) ${r.budget.describe}`;
}

export function stateText(r: LaunchRow): string {
  return r.cutOff ? `${r.state}, cut off` : r.state;
}

/** The running bottles and the ledger, read together (the engine may be down: then ledger only). */
export async function readFleet(
  ctx: CliContext,
  since: string | undefined,
  host?: string,
): Promise<FleetView> {
  let active: ActiveBottle[] = [];
  try {
    active = await services(ctx).backend(backendName(ctx)).enumerateActive();
  } catch (e) {
    ctx.io.err(
      `bot-bottle: cannot list running bottles (${e instanceof Error ? e.message : String(e)}); showing the ledger only`,
    );
  }
  return fleetOf(ctx, active, since, host);
}

/** The ledger's view of the launches, with the running bottles already listed. */
export function fleetOf(
  ctx: CliContext,
  active: ActiveBottle[],
  since: string | undefined,
  host?: string,
): Promise<FleetView> {
  return withLedger(
    ctx.env,
    (ledger) =>
      fleetView({
        ledger,
        env: ctx.env,
        active,
        alive: controllerAlive,
        ...(since === undefined ? {} : { since }),
        ...(host === undefined ? {} : { host }),
      }),
    (line) => {
      ctx.io.err(`bot-bottle: ${line}`);
    },
  );
}

function define(program: Program) {
  return program
    .command('usage')
    .description("token usage per launch from the ledger, against each running bottle's budget")
    .option('--since <when>', 'only usage since then: 2026-11-21, 2026-11-21T09:00Z, 30m, 24h, 7d')
    .option(
      '--host <name>',
      'only launches run by host NAME (its BOT_BOTTLE_HOST_NAME, else its machine name)',
    )
    .option('--json', 'print launches, budgets and per-provider totals as JSON')
    .addHelpText(
      'after',
      `
Usage is read from the API responses by each bottle's egress proxy and kept in
~/.bot-bottle/bot-bottle.db, or in the store settings.yml ledger.url (or
BOT_BOTTLE_LEDGER_URL) names. With a store several hosts share, every host's
launches are listed; HOST says whose each was, and another host's launch
shows as remote (used tokens in the last five minutes) or remote, idle. BUDGET shows the effective budget of a running
bottle: used/limit over what it counts (a shared budget counts other bottles too).`,
    );
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (opts) => exit(await runUsage(ctx, opts)));
}

async function runUsage(ctx: CliContext, opts: OptionsOf<typeof define>): Promise<number> {
  let since: string | undefined;
  if (opts.since !== undefined) {
    since = parseSince(opts.since);
    if (since === undefined) {
      throw new UsageError(
        `--since: expected an ISO time (2026-11-21, 2026-11-21T09:00Z) or a span such as 30m, 24h, 7d; got ${JSON.stringify(opts.since)}`,
      );
    }
  }
  const host = opts.host?.trim();
  if (host === '') throw new UsageError('--host: expected a host name; got an empty string');
  const view = await readFleet(ctx, since, host);
  if (opts.json === true) {
    printJson(ctx.io, view);
    return 0;
  }
  for (const line of usageReport(view)) ctx.io.out(line);
  return 0;
}

/** A launch's calls, with the unmetered ones flagged: `8 (2 unmetered!)`. */
export function callsText(t: { events: number; unmeteredEvents: number }): string {
  return t.unmeteredEvents === 0
    ? String(t.events)
    : `${t.events} (${t.unmeteredEvents} unmetered!)`;
}

/** What `usage` prints (without --json). */
export function usageReport(view: FleetView): string[] {
  const since = view.since ?? undefined;
  if (view.launches.length === 0) {
    const none = since === undefined ? 'no metered usage yet' : `no metered usage since ${since}`;
    return [view.host === null ? none : `${none} on host ${view.host}`];
  }
  const lines = [
    table([
      [
        'HOST',
        'SLUG',
        'IDENTITY',
        'AGENT',
        'STATE',
        'CALLS',
        'INPUT',
        'OUTPUT',
        'CACHE R/W',
        'TOKENS',
        'RATE/MIN',
        'BUDGET',
      ],
      ...view.launches.map((r) => [
        r.host ?? '-',
        r.slug,
        r.identity,
        r.agent,
        stateText(r),
        callsText(r),
        formatTokens(r.inputTokens),
        formatTokens(r.outputTokens),
        `${shortTokens(r.cacheReadTokens)}/${shortTokens(r.cacheCreationTokens)}`,
        formatTokens(r.tokens),
        r.running ? formatTokens(r.rate) : '-',
        budgetText(r),
      ]),
    ]),
    '',
  ];
  let unmetered = 0;
  for (const [provider, t] of Object.entries(view.providers)) {
    unmetered += t.unmeteredEvents;
    const um = t.unmeteredEvents === 0 ? '' : `, ${t.unmeteredEvents} unmetered`;
    lines.push(
      `${provider}: ${formatTokens(t.tokens)} tokens (${formatTokens(t.inputTokens)} in, ${formatTokens(t.outputTokens)} out) in ${t.events} ${t.events === 1 ? 'call' : 'calls'}${um}${since === undefined ? '' : ` since ${since}`}`,
    );
  }
  if (unmetered > 0) {
    lines.push(
      '',
      `unmetered: ${unmetered} ${unmetered === 1 ? 'call was' : 'calls were'} answered but ${unmetered === 1 ? 'its' : 'their'} usage could not be read ` +
        "(an encoding or body the meter cannot decode); each is charged its request's estimate " +
        'against every budget. `bot-bottle egress log <slug>` shows which.',
    );
  }
  return lines;
}
