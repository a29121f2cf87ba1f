import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { botBottleHome } from '../paths.js';
import { LATEST_SCHEMA, MIGRATIONS } from './migrations.js';
import type {
  EnforcementAction,
  LedgerStore,
  UsageEvent,
  UsageFilter,
  UsageTotals,
} from './types.js';

/** The host's ledger file: ~/.bot-bottle/bot-bottle.db. */
export function ledgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(botBottleHome(env), 'bot-bottle.db');
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
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
    this.db.pragma('journal_mode = WAL');
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

  recordUsage(e: UsageEvent): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO usage_events (at, slug, identity, agent, provider, bottles, api, model, request_id,
           input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, estimated)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        e.at,
        e.slug,
        e.identity,
        e.agent,
        e.provider,
        // Space-padded so `LIKE '% name %'` matches whole names only.
        ` ${e.bottles.join(' ')} `,
        e.api,
        e.model,
        e.requestId,
        e.inputTokens,
        e.outputTokens,
        e.cacheCreationTokens,
        e.cacheReadTokens,
        e.estimated ? 1 : 0,
      );
    return Promise.resolve();
  }

  totals(f: UsageFilter): Promise<UsageTotals> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.provider !== undefined) {
      where.push('provider = ?');
      args.push(f.provider);
    }
    if (f.slug !== undefined) {
      where.push('slug = ?');
      args.push(f.slug);
    }
    if (f.agent !== undefined) {
      where.push('agent = ?');
      args.push(f.agent);
    }
    if (f.bottle !== undefined) {
      where.push("bottles LIKE ? ESCAPE '\\'");
      args.push(`% ${f.bottle.replace(/[\\%_]/g, (c) => `\\${c}`)} %`);
    }
    if (f.since !== undefined) {
      where.push('at >= ?');
      args.push(f.since);
    }
    const row = this.db
      .prepare(
        `SELECT count(*) AS events, coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o,
                coalesce(sum(cache_creation_tokens), 0) AS cc, coalesce(sum(cache_read_tokens), 0) AS cr
         FROM usage_events ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}`,
      )
      .get(...args) as { events: number; i: number; o: number; cc: number; cr: number };
    return Promise.resolve({
      events: row.events,
      inputTokens: row.i,
      outputTokens: row.o,
      cacheCreationTokens: row.cc,
      cacheReadTokens: row.cr,
      tokens: row.i + row.o,
    });
  }

  reserve(scope: string, slug: string, tokens: number): Promise<number> {
    const r = this.db
      .prepare('INSERT INTO reservations (scope, slug, tokens, at) VALUES (?, ?, ?, ?)')
      .run(scope, slug, tokens, new Date().toISOString());
    return Promise.resolve(Number(r.lastInsertRowid));
  }

  release(id: number): Promise<void> {
    this.db.prepare('UPDATE reservations SET released = 1 WHERE id = ?').run(id);
    return Promise.resolve();
  }

  reserved(scope: string): Promise<number> {
    const row = this.db
      .prepare(
        'SELECT coalesce(sum(tokens), 0) AS t FROM reservations WHERE scope = ? AND released = 0',
      )
      .get(scope) as { t: number };
    return Promise.resolve(row.t);
  }

  recordAction(a: EnforcementAction): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO enforcement_actions (at, slug, action, scope, used, budget_limit, reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(a.at, a.slug, a.action, a.scope, a.used, a.limit, a.reason);
    return Promise.resolve();
  }

  actions(slug?: string): Promise<EnforcementAction[]> {
    const rows = this.db
      .prepare(
        `SELECT at, slug, action, scope, used, budget_limit AS "limit", reason FROM enforcement_actions
         ${slug === undefined ? '' : 'WHERE slug = ?'} ORDER BY id`,
      )
      .all(...(slug === undefined ? [] : [slug])) as EnforcementAction[];
    return Promise.resolve(rows);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
