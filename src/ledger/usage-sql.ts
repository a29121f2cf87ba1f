import type { UsageFilter, UsageTotals } from './types.js';

/**
 * The SQL both stores build over usage: a filter's WHERE clause, the choice
 * between hourly totals and events, and the totals row. Only the placeholder
 * style differs between SQLite (`?`) and Postgres (`$n`), so the caller
 * binds each value and gets its placeholder back.
 */

export type Bind = (value: unknown) => string;

/** WHERE over usage events (empty when the filter names nothing). */
export function usageWhere(f: UsageFilter, bind: Bind): string {
  const where: string[] = [];
  const eq = (col: string, v: string | undefined): void => {
    if (v !== undefined) where.push(`${col} = ${bind(v)}`);
  };
  eq('provider', f.provider);
  eq('host', f.host);
  eq('slug', f.slug);
  eq('identity', f.identity);
  eq('agent', f.agent);
  if (f.bottle !== undefined) {
    // Bottles are stored space-padded (' base github '); LIKE's own characters are escaped.
    where.push(
      `bottles LIKE ${bind(`% ${f.bottle.replace(/[\\%_]/g, (c) => `\\${c}`)} %`)} ESCAPE '\\'`,
    );
  }
  if (f.since !== undefined) where.push(`at >= ${bind(f.since)}`);
  return where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
}

/** An ISO time on the hour: hourly totals answer sums from it exactly. */
const HOUR_START = /^\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z$/;

/**
 * The tokens a budget counts, as a SELECT of one value. Budgets over
 * calendar periods (hour-aligned `since`, no launch or host filter) read the
 * hourly totals, so the cost does not grow with the period's calls; anything
 * finer reads the events. Both give the same number.
 */
export function usedSelect(f: UsageFilter, bind: Bind): string {
  const { since: from, ...rest } = f;
  if (
    f.identity === undefined &&
    f.slug === undefined &&
    f.host === undefined &&
    (from === undefined || HOUR_START.test(from))
  ) {
    const where = usageWhere(rest, bind);
    const since =
      from === undefined ? '' : `${where === '' ? 'WHERE' : ' AND'} hour >= ${bind(from)}`;
    return `SELECT coalesce(sum(tokens), 0) FROM usage_hourly ${where}${since}`;
  }
  return `SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage_events ${usageWhere(f, bind)}`;
}

/** Postgres returns bigint sums as strings; token counts fit a double exactly. */
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** A totals row as either store returns it. */
export type TotalsRow = Partial<Record<'events' | 'um' | 'i' | 'o' | 'cc' | 'cr', unknown>>;

export function totalsOf(r: TotalsRow): UsageTotals {
  const i = num(r.i);
  const o = num(r.o);
  return {
    events: num(r.events),
    unmeteredEvents: num(r.um),
    inputTokens: i,
    outputTokens: o,
    cacheCreationTokens: num(r.cc),
    cacheReadTokens: num(r.cr),
    tokens: i + o,
  };
}
