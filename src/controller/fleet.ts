import { hostname } from 'node:os';
import { ledgerHost } from '../ledger/host.js';
import { parseDuration } from '../util/duration.js';
import type { ActiveBottle } from '../backend/backend.js';
import type { EnforcementAction, LaunchUsage, LedgerStore, UsageTotals } from '../ledger/types.js';
import { budgetWindow, describeBudget } from './budget.js';
import { cutOffBy } from './enforcement.js';
import { loadSaved } from './state.js';

/**
 * Usage against budgets for every launch on the host, read from the ledger
 * and the engine: what `bot-bottle usage` prints and the dashboard shows.
 * It reads only; actions go through the enforcement module.
 */

export interface BudgetStatus {
  limit: number;
  /** Usage the budget counts (shared budgets include other bottles). */
  used: number;
  scope: string;
  describe: string;
}

export interface LaunchRow extends UsageTotals {
  slug: string;
  identity: string;
  agent: string;
  provider: string;
  /** The host the launch ran on, when known (its controller's, or the ledger's). */
  host: string | null;
  /**
   * Run by another host: its engine is not this host's, so its state is read
   * from the ledger, and `running` means it used tokens in the last five minutes.
   */
  remote: boolean;
  /**
   * running / orphaned (controller gone) / ended / frozen / gone; for
   * another host's launch `remote` (usage in the last five minutes) or
   * `remote, idle`.
   */
  state: string;
  running: boolean;
  startedAt: string | null;
  last: string | null;
  /** Tokens per minute over the last five minutes. */
  rate: number;
  budget: BudgetStatus | null;
  cutOff: boolean;
  lastAction: EnforcementAction | null;
  /** Secrets redacted from the launch's LLM requests (all kinds). */
  redactions: number;
  /** The same, by kind (e.g. `aws-access-key-id`). */
  redactionKinds: Record<string, number>;
  /** Enforcement actions on this launch that stopped or refused it (budget or operator; not lifts). */
  enforcements: number;
}

export interface FleetView {
  at: string;
  since: string | null;
  /** The `--host` filter, if any. */
  host: string | null;
  launches: LaunchRow[];
  providers: Record<string, UsageTotals>;
}

const RATE_WINDOW_MS = 5 * 60 * 1000;

const zero = (): UsageTotals => ({
  events: 0,
  unmeteredEvents: 0,
  inputTokens: 0,
  outputTokens: 0,
  cacheCreationTokens: 0,
  cacheReadTokens: 0,
  tokens: 0,
});

export async function fleetView(o: {
  ledger: LedgerStore;
  env: NodeJS.ProcessEnv;
  active: readonly ActiveBottle[];
  alive: (a: ActiveBottle) => boolean;
  since?: string;
  /** Only this host's launches. */
  host?: string;
  now?: Date;
}): Promise<FleetView> {
  const now = o.now ?? new Date();
  const since = o.since;
  const here = ledgerHost(o.env);
  const used = await o.ledger.byLaunch({
    ...(since === undefined ? {} : { since }),
    ...(o.host === undefined ? {} : { host: o.host }),
  });
  const recentSince = new Date(now.getTime() - RATE_WINDOW_MS).toISOString();
  const byIdentity = new Map<string, LaunchUsage>(used.map((u) => [u.identity, u]));
  const rows: LaunchRow[] = [];
  const seen = new Set<string>();

  const describe = async (
    identity: string,
    base: Pick<
      LaunchRow,
      'slug' | 'agent' | 'provider' | 'host' | 'remote' | 'state' | 'running' | 'startedAt'
    >,
  ): Promise<LaunchRow> => {
    const u = byIdentity.get(identity);
    const saved = loadSaved(o.env, identity);
    let budget: BudgetStatus | null = null;
    if (base.running && saved !== undefined) {
      const w = budgetWindow(saved.plan, { identity, startedAt: saved.startedAt }, now);
      if (w !== undefined) {
        budget = {
          limit: w.limit,
          used: await o.ledger.used(w.filter),
          scope: w.scope,
          describe: describeBudget(saved.plan),
        };
      }
    }
    const recent = await o.ledger.totals({
      identity,
      since: new Date(now.getTime() - RATE_WINDOW_MS).toISOString(),
    });
    const actions = await o.ledger.actions({ identity });
    const redacted = await o.ledger.redactions({ identity });
    const launchStart = base.startedAt ?? saved?.startedAt ?? u?.first ?? now.toISOString();
    return {
      ...base,
      identity,
      ...(u ?? zero()),
      // The ledger names the host its usage came from; before any usage, the controller's.
      host: u !== undefined && u.host !== '' ? u.host : base.host,
      last: u?.last ?? null,
      rate: Math.round(recent.tokens / (RATE_WINDOW_MS / 60_000)),
      budget,
      cutOff: base.running && cutOffBy(actions, launchStart),
      lastAction: actions.at(-1) ?? null,
      redactions: Object.values(redacted).reduce((a, n) => a + n, 0),
      redactionKinds: redacted,
      enforcements: actions.filter((a) => a.action !== 'restore').length,
    };
  };

  // The engine lists this host's bottles only.
  const active = o.host === undefined || o.host === here ? o.active : [];
  for (const a of active) {
    seen.add(a.identity);
    rows.push(
      await describe(a.identity, {
        slug: a.slug,
        agent: a.agent,
        provider: a.provider,
        host: controllerHostName(o.env, a),
        remote: false,
        state: a.state === 'running' && !o.alive(a) ? 'orphaned' : a.state,
        running: true,
        startedAt: a.startedAt,
      }),
    );
  }
  for (const u of used) {
    if (seen.has(u.identity)) continue;
    // Rows written before hosts were recorded carry no host: this host's.
    const remote = u.host !== '' && u.host !== here;
    const saved = remote ? undefined : loadSaved(o.env, u.identity);
    const recent = u.last >= recentSince;
    rows.push(
      await describe(u.identity, {
        slug: u.slug,
        agent: u.agent,
        provider: u.provider,
        host: u.host === '' ? null : u.host,
        remote,
        state: remote ? (recent ? 'remote' : 'remote, idle') : endedState(saved?.reason),
        // Another host's launch that used tokens lately is taken as running there.
        running: remote && recent,
        startedAt: saved?.startedAt ?? null,
      }),
    );
  }

  const providers: Record<string, UsageTotals> = {};
  for (const u of used) {
    const t = (providers[u.provider] ??= zero());
    t.events += u.events;
    t.unmeteredEvents += u.unmeteredEvents;
    t.inputTokens += u.inputTokens;
    t.outputTokens += u.outputTokens;
    t.cacheCreationTokens += u.cacheCreationTokens;
    t.cacheReadTokens += u.cacheReadTokens;
    t.tokens += u.tokens;
  }
  return {
    at: now.toISOString(),
    since: since ?? null,
    host: o.host ?? null,
    launches: rows,
    providers,
  };
}

/** A launch of this host the engine no longer runs, by its saved record's reason. */
function endedState(reason: string | undefined): string {
  if (reason === undefined) return 'gone';
  return reason === 'running' ? 'ended' : reason;
}

/** A running bottle's host as the ledger names it (this host's controller: BOT_BOTTLE_HOST_NAME). */
function controllerHostName(env: NodeJS.ProcessEnv, a: ActiveBottle): string | null {
  if (a.controllerHost === undefined) return null;
  return a.controllerHost === hostname() ? ledgerHost(env) : a.controllerHost;
}

/** `--since`: an ISO time, or a span back from now such as 30m, 24h, 7d. */
export function parseSince(raw: string, now = new Date()): string | undefined {
  const span = parseDuration(raw);
  if (span !== undefined) return new Date(now.getTime() - span).toISOString();
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw)) return undefined;
  const t = new Date(raw);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}
