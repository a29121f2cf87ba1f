import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { botBottleHome } from '../paths.js';
import { LATEST_SCHEMA, MIGRATIONS } from './migrations.js';
import {
  RESERVATION_TTL_MS,
  type AdmitDecide,
  type Admitted,
  type BudgetWindow,
  type EnforcementAction,
  type LaunchUsage,
  type LedgerStore,
  type RedactionEvent,
  type UsageEvent,
  type UsageFilter,
  type UsageTotals,
  type WindowState,
} from './types.js';
import { totalsOf, usageWhere, usedSelect, type Bind } from './usage-sql.js';

interface RawTotals {
  events: number;
  um: number;
  i: number;
  o: number;
  cc: number;
  cr: number;
}

/** A binder for SQLite's `?` placeholders, collecting the values in `args`. */
function sqliteBind(args: unknown[]): Bind {
  return (v) => {
    args.push(v);
    return '?';
  };
}

function whereClause(f: UsageFilter): { where: string; args: unknown[] } {
  const args: unknown[] = [];
  return { where: usageWhere(f, sqliteBind(args)), args };
}

/** The host's ledger file: ~/.bot-bottle/bot-bottle.db. */
export function ledgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(botBottleHome(env), 'bot-bottle.db');
}

/**
 * Switches the file to WAL. Changing the journal mode takes the file's
 * exclusive lock, and while another connection is writing SQLite answers
 * SQLITE_BUSY at once instead of calling its busy handler (two controllers
 * starting together on a new ledger). A file already in WAL needs no
 * change; otherwise the switch is retried until the busy timeout.
 */
function useWal(db: Database.Database, busyMs: number): void {
  const deadline = Date.now() + busyMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    try {
      if (db.pragma('journal_mode', { simple: true }) === 'wal') return;
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      const busy = e instanceof Error && 'code' in e && String(e.code).startsWith('SQLITE_BUSY');
      if (!busy || Date.now() >= deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    }
  }
}

/**
 * The ledger in one SQLite file, shared by every controller on the host:
 * WAL so readers (dashboards) never block writers, a busy timeout so
 * concurrent writers queue instead of failing, one transaction per write so
 * a killed process leaves either the whole row or nothing.
 */
export class SqliteLedger implements LedgerStore {
  private readonly db: Database.Database;

  constructor(path: string, opts: { busyTimeoutMs?: number; migrateTo?: number } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    const busyMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000));
    this.db.pragma(`busy_timeout = ${busyMs}`);
    useWal(this.db, busyMs);
    this.db.pragma('synchronous = NORMAL');
    this.migrate(opts.migrateTo ?? LATEST_SCHEMA);
  }

  private migrate(target: number): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    // IMMEDIATE: two processes opening a fresh ledger must not both apply step 1.
    const step = this.db.transaction((m: { version: number; sql: string }) => {
      const current = this.currentVersion();
      if (current >= m.version) return;
      this.db.exec(m.sql);
      this.db.prepare('DELETE FROM schema_version').run();
      this.db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(m.version);
    });
    for (const m of MIGRATIONS) {
      if (m.version > target) break;
      step.immediate(m);
    }
  }

  private currentVersion(): number {
    const row = this.db.prepare('SELECT max(version) AS v FROM schema_version').get() as
      { v: number | null } | undefined;
    return row?.v ?? 0;
  }

  schemaVersion(): Promise<number> {
    return Promise.resolve(this.currentVersion());
  }

  /** Inserts one event and adds it to the hourly totals, unless its id was written before. */
  private insertUsage(e: UsageEvent): void {
    const r = this.db
      .prepare(
        `INSERT INTO usage_events (at, host, event_id, slug, identity, agent, provider, bottles, api, model,
           request_id, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, estimated, unmetered,
           input_estimate, cap_requested, cap_granted)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_id) DO NOTHING`,
      )
      .run(
        e.at,
        e.host,
        e.eventId,
        e.slug,
        e.identity,
        e.agent,
        e.provider,
        ` ${e.bottles.join(' ')} `,
        e.api,
        e.model,
        e.requestId,
        e.inputTokens,
        e.outputTokens,
        e.cacheCreationTokens,
        e.cacheReadTokens,
        e.estimated ? 1 : 0,
        e.unmetered ? 1 : 0,
        e.inputEstimate ?? null,
        e.capRequested ?? null,
        e.capGranted ?? null,
      );
    if (r.changes === 0) return;
    this.db
      .prepare(
        `INSERT INTO usage_hourly (hour, identity, agent, provider, bottles, tokens) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (hour, identity, agent, provider, bottles) DO UPDATE SET tokens = tokens + excluded.tokens`,
      )
      .run(
        `${e.at.slice(0, 13)}:00:00.000Z`,
        e.identity,
        e.agent,
        e.provider,
        ` ${e.bottles.join(' ')} `,
        e.inputTokens + e.outputTokens,
      );
  }

  recordUsage(e: UsageEvent): Promise<void> {
    this.db.transaction(() => {
      this.insertUsage(e);
    })();
    return Promise.resolve();
  }

  /** Tokens a budget counts (from the hourly totals where they answer exactly). */
  private budgetTokens(f: UsageFilter): number {
    const args: unknown[] = [];
    const sql = usedSelect(f, sqliteBind(args));
    return this.db
      .prepare(sql)
      .pluck()
      .get(...args) as number;
  }

  private sumUsage(f: UsageFilter): UsageTotals {
    const { where, args } = whereClause(f);
    const row = this.db
      .prepare(
        `SELECT count(*) AS events, coalesce(sum(unmetered), 0) AS um,
                coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o,
                coalesce(sum(cache_creation_tokens), 0) AS cc, coalesce(sum(cache_read_tokens), 0) AS cr
         FROM usage_events ${where}`,
      )
      .get(...args) as RawTotals;
    return totalsOf(row);
  }

  totals(f: UsageFilter): Promise<UsageTotals> {
    return Promise.resolve(this.sumUsage(f));
  }

  used(f: UsageFilter): Promise<number> {
    return Promise.resolve(this.budgetTokens(f));
  }

  byLaunch(f: UsageFilter): Promise<LaunchUsage[]> {
    const { where, args } = whereClause(f);
    const rows = this.db
      .prepare(
        `SELECT max(host) AS host, slug, identity, agent, provider, min(at) AS first, max(at) AS last,
                count(*) AS events, sum(unmetered) AS um, sum(input_tokens) AS i, sum(output_tokens) AS o,
                sum(cache_creation_tokens) AS cc, sum(cache_read_tokens) AS cr
         FROM usage_events ${where} GROUP BY identity, slug, agent, provider ORDER BY last DESC`,
      )
      .all(...args) as (Omit<LaunchUsage, keyof UsageTotals> & RawTotals)[];
    return Promise.resolve(
      rows.map(({ events, um, i, o, cc, cr, ...launch }) => ({
        ...launch,
        ...totalsOf({ events, um, i, o, cc, cr }),
      })),
    );
  }

  private openReserved(scope: string, now: number): number {
    const row = this.db
      .prepare(
        'SELECT coalesce(sum(tokens), 0) AS t FROM reservations WHERE scope = ? AND released = 0 AND at >= ?',
      )
      .get(scope, new Date(now - RESERVATION_TTL_MS).toISOString()) as { t: number };
    return row.t;
  }

  /** The earliest usage a window counts (when a rate window starts to free up). */
  private firstAt(f: UsageFilter): string | null {
    const { where, args } = whereClause(f);
    const row = this.db
      .prepare(`SELECT min(at) AS first FROM usage_events ${where}`)
      .get(...args) as { first: string | null } | undefined;
    return row?.first ?? null;
  }

  admit<D extends { reserve?: number | undefined }>(
    windows: readonly BudgetWindow[],
    slug: string,
    decide: AdmitDecide<D>,
  ): Promise<Admitted<D>> {
    // IMMEDIATE: the write lock is taken before reading, so no other
    // process admits between this one's reads and its reservation.
    const run = this.db.transaction((): Admitted<D> => {
      const now = Date.now();
      const states: WindowState[] = windows.map((w) => ({
        window: w,
        used: this.budgetTokens(w.filter),
        reserved: this.openReserved(w.scope, now),
        firstAt: w.kind === 'rate' ? this.firstAt(w.filter) : null,
      }));
      const decision = decide(states);
      if (decision.reserve === undefined || windows.length === 0) {
        return { decision, reservation: null };
      }
      const grp = randomUUID();
      const insert = this.db.prepare(
        'INSERT INTO reservations (scope, slug, tokens, at, grp) VALUES (?, ?, ?, ?, ?)',
      );
      const tokens = Math.max(0, Math.ceil(decision.reserve));
      for (const w of windows) insert.run(w.scope, slug, tokens, new Date(now).toISOString(), grp);
      return { decision, reservation: grp };
    });
    return Promise.resolve(run.immediate());
  }

  settle(reservation: string | null, e: UsageEvent): Promise<void> {
    this.db.transaction(() => {
      this.insertUsage(e);
      if (reservation !== null) this.releaseNow(reservation);
    })();
    return Promise.resolve();
  }

  private releaseNow(grp: string): void {
    this.db.prepare('UPDATE reservations SET released = 1 WHERE grp = ?').run(grp);
  }

  release(id: string): Promise<void> {
    this.releaseNow(id);
    return Promise.resolve();
  }

  reserved(scope: string): Promise<number> {
    return Promise.resolve(this.openReserved(scope, Date.now()));
  }

  recordAction(a: EnforcementAction): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO enforcement_actions (at, slug, identity, action, scope, used, budget_limit, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(a.at, a.slug, a.identity, a.action, a.scope, a.used, a.limit, a.reason);
    return Promise.resolve();
  }

  recordRedactions(e: RedactionEvent): Promise<void> {
    const insert = this.db.prepare(
      'INSERT INTO redactions (at, slug, identity, kind, count) VALUES (?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (const [kind, n] of Object.entries(e.counts)) {
        if (Number.isSafeInteger(n) && n > 0) insert.run(e.at, e.slug, e.identity, kind, n);
      }
    })();
    return Promise.resolve();
  }

  redactions(f: { identity: string; since?: string }): Promise<Record<string, number>> {
    const rows = this.db
      .prepare(
        `SELECT kind, sum(count) AS n FROM redactions WHERE identity = ? AND at >= ?
         GROUP BY kind ORDER BY kind`,
      )
      .all(f.identity, f.since ?? '') as { kind: string; n: number }[];
    return Promise.resolve(Object.fromEntries(rows.map((r) => [r.kind, r.n])));
  }

  actions(
    f: { slug?: string; identity?: string; since?: string } = {},
  ): Promise<EnforcementAction[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (f.slug !== undefined) {
      where.push('slug = ?');
      args.push(f.slug);
    }
    if (f.identity !== undefined) {
      where.push('identity = ?');
      args.push(f.identity);
    }
    if (f.since !== undefined) {
      where.push('at >= ?');
      args.push(f.since);
    }
    const rows = this.db
      .prepare(
        `SELECT at, slug, identity, action, scope, used, budget_limit AS "limit", reason FROM enforcement_actions
         ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY id`,
      )
      .all(...args) as EnforcementAction[];
    return Promise.resolve(rows);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
