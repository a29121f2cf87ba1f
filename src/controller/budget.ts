import type { BudgetWindow } from '../ledger/types.js';
import type { BottlePlan } from '../plan/schema.js';

/**
 * The budget that governs one launch, as the ledger counts it. The plan
 * already picked the most specific budget (launch flag, agent, bottle,
 * parent bottle, host settings); this decides which usage it counts:
 *
 * - launch (`--budget`): this launch's own calls since it started;
 * - agent: every launch of that agent with this provider, this period;
 * - bottle / parent bottle: every launch that includes that bottle;
 * - global: every launch on the host with this provider.
 *
 * Usage is attributed to the bottle's agent provider (the budget key), so a
 * bottle's metered calls count against it whichever API host they reach.
 */

export interface LaunchContext {
  identity: string;
  startedAt: string;
}

export function periodStart(period: BottlePlan['budget']['period'], now: Date): string | undefined {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  switch (period) {
    case 'day':
      return new Date(Date.UTC(y, m, d)).toISOString();
    case 'week': {
      // ISO weeks start on Monday.
      const back = (now.getUTCDay() + 6) % 7;
      return new Date(Date.UTC(y, m, d - back)).toISOString();
    }
    case 'month':
      return new Date(Date.UTC(y, m, 1)).toISOString();
    case 'all':
    case 'launch':
      return undefined;
  }
}

/** The bottles a launch counts under: each composed bottle and its extends chain. */
export function bottleNames(plan: BottlePlan): string[] {
  return [...new Set(plan.bottles.flatMap((b) => b.chain.map((c) => c.name)))];
}

export function budgetWindow(
  plan: BottlePlan,
  launch: LaunchContext,
  now: Date,
): BudgetWindow | undefined {
  const b = plan.budget;
  if (b.tokens === null || b.scope === 'none') return undefined;
  const provider = b.provider;
  const since = periodStart(b.period, now);
  const window = (scope: string, filter: BudgetWindow['filter']): BudgetWindow => ({
    scope,
    filter: { ...filter, ...(since === undefined ? {} : { since }) },
    limit: b.tokens ?? 0,
    kind: 'budget',
  });
  switch (b.scope) {
    case 'launch':
      return {
        scope: `launch:${launch.identity}`,
        filter: { identity: launch.identity, since: launch.startedAt },
        limit: b.tokens,
        kind: 'budget',
      };
    case 'agent':
      return window(`agent:${provider}:${plan.agent.name}`, { provider, agent: plan.agent.name });
    case 'bottle':
    case 'parent-bottle':
      return window(`bottle:${provider}:${b.from ?? ''}`, { provider, bottle: b.from ?? '' });
    case 'global':
      return window(`global:${provider}`, { provider });
  }
}

/** One line for a person: "global claude budget (day)". */
export function describeBudget(plan: BottlePlan): string {
  const b = plan.budget;
  const what =
    b.scope === 'launch'
      ? 'launch budget (--budget)'
      : b.scope === 'global'
        ? `global ${b.provider} budget`
        : `${b.scope} ${b.from ?? ''} ${b.provider} budget`;
  return b.period === 'launch' || b.period === 'all' ? what : `${what} (per ${b.period})`;
}

/** How far back a rate window counts. */
export const RATE_WINDOW_MS = 60_000;

/**
 * The tokens-per-minute limits of a launch: its own (a bottle's
 * `budget.rate`, this launch's calls) and the provider's over every launch
 * in the store (settings' `budget.rate`; a shared store makes it the
 * fleet's). Each counts the last minute.
 */
export function rateWindows(plan: BottlePlan, launch: LaunchContext, now: Date): BudgetWindow[] {
  const r = plan.budget.rate;
  if (r === undefined) return [];
  const since = new Date(now.getTime() - RATE_WINDOW_MS).toISOString();
  const out: BudgetWindow[] = [];
  if (r.launch !== null) {
    out.push({
      scope: `rate:launch:${launch.identity}`,
      filter: { identity: launch.identity, since },
      limit: r.launch,
      kind: 'rate',
    });
  }
  if (r.global !== null) {
    const provider = plan.budget.provider;
    out.push({
      scope: `rate:global:${provider}`,
      filter: { provider, since },
      limit: r.global,
      kind: 'rate',
    });
  }
  return out;
}

/** Every limit admission checks for a launch: its budget, then its rates. */
export function admissionWindows(
  plan: BottlePlan,
  launch: LaunchContext,
  now: Date,
): BudgetWindow[] {
  const w = budgetWindow(plan, launch, now);
  return [...(w === undefined ? [] : [w]), ...rateWindows(plan, launch, now)];
}

/** One line for a person: "rate limit of this launch (5000 tokens per minute)". */
export function describeRate(w: BudgetWindow): string {
  return w.scope.startsWith('rate:launch:')
    ? `rate limit of this launch (${w.limit} tokens per minute)`
    : `${w.filter.provider ?? ''} rate limit over every launch (${w.limit} tokens per minute)`;
}
