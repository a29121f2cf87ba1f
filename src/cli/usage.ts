import type { ActiveBottle } from '../backend/backend.js';
import { fleetView, parseSince, type FleetView, type LaunchRow } from '../controller/fleet.js';
import { UsageError } from '../errors.js';
import { withLedger } from '../ledger/open.js';
import type { CliContext } from './context.js';
import { controllerAlive } from './find.js';
import { formatTokens, shortTokens } from '../util/tokens.js';
import { printJson, table } from './output.js';
import { services } from './services.js';

export function budgetText(r: LaunchRow): string {
  if (r.budget === null) return r.running ? 'none' : '-';
  const pct = r.budget.limit === 0 ? 100 : Math.floor((100 * r.budget.used) / r.budget.limit);
  return `${shortTokens(r.budget.used)}/${shortTokens(r.budget.limit)} (${pct}%) ${r.budget.describe}`;
}

export function stateText(r: LaunchRow): string {
  return r.cutOff ? `${r.state}, cut off` : r.state;
}

/** The running bottles and the ledger, read together (the engine may be down: then ledger only). */
export async function readFleet(ctx: CliContext, since: string | undefined): Promise<FleetView> {
  let active: ActiveBottle[] = [];
  try {
    active = await services(ctx).backend('docker').enumerateActive();
  } catch (e) {
    ctx.io.err(
      `bot-bottle: cannot list running bottles (${e instanceof Error ? e.message : String(e)}); showing the ledger only`,
    );
  }
  return withLedger(ctx.env, (ledger) =>
    fleetView({
      ledger,
      env: ctx.env,
      active,
      alive: controllerAlive,
      ...(since === undefined ? {} : { since }),
    }),
  );
}

export async function runUsage(
  ctx: CliContext,
  opts: { json?: boolean; since?: string },
): Promise<number> {
  let since: string | undefined;
  if (opts.since !== undefined) {
    since = parseSince(opts.since);
    if (since === undefined) {
      throw new UsageError(
        `--since: expected an ISO time (2026-11-21, 2026-11-21T09:00Z) or a span such as 30m, 24h, 7d; got ${JSON.stringify(opts.since)}`,
      );
    }
  }
  const view = await readFleet(ctx, since);
  if (opts.json === true) {
    printJson(ctx.io, view);
    return 0;
  }
  if (view.launches.length === 0) {
    ctx.io.out(since === undefined ? 'no metered usage yet' : `no metered usage since ${since}`);
    return 0;
  }
  ctx.io.out(
    table([
      [
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
        r.slug,
        r.identity,
        r.agent,
        stateText(r),
        String(r.events),
        formatTokens(r.inputTokens),
        formatTokens(r.outputTokens),
        `${shortTokens(r.cacheReadTokens)}/${shortTokens(r.cacheCreationTokens)}`,
        formatTokens(r.tokens),
        r.running ? formatTokens(r.rate) : '-',
        budgetText(r),
      ]),
    ]),
  );
  ctx.io.out('');
  for (const [provider, t] of Object.entries(view.providers)) {
    ctx.io.out(
      `${provider}: ${formatTokens(t.tokens)} tokens (${formatTokens(t.inputTokens)} in, ${formatTokens(t.outputTokens)} out) in ${t.events} ${t.events === 1 ? 'call' : 'calls'}${since === undefined ? '' : ` since ${since}`}`,
    );
  }
  return 0;
}
