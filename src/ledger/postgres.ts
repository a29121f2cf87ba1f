import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { ConfigError } from '../errors.js';
import { storeError } from './postgres-errors.js';
import { MIGRATION_LOCK_KEY, PG_LATEST_SCHEMA, PG_MIGRATIONS } from './postgres-migrations.js';
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
import { ledgerUrlProblem, urlEndpoint, urlSecrets } from './url.js';
import { totalsOf, usageWhere, usedSelect, type Bind } from './usage-sql.js';

export { LedgerStoreError } from './postgres-errors.js';

export interface PostgresLedgerOptions {
  /** Apply schema steps up to this version only (tests of migrations). */
  migrateTo?: number;
  /** How long to wait for a connection before failing; a few seconds, so a dead store fails fast. */
  connectTimeoutMs?: number;
  /** The server cancels any statement (a lock wait included) that runs longer. */
  statementTimeoutMs?: number;
  /** Connections per process. */
  maxConnections?: number;
}

type Row = Record<string, unknown>;
type Queryable = Pick<Pool, 'query'> | PoolClient;

/** bigint and numeric arrive as strings: token counts fit a double exactly. */
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
/** Text columns arrive as strings. */
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A binder for Postgres placeholders, numbered after the values already in `args`. */
function pgBind(args: unknown[]): Bind {
  return (v) => {
    args.push(v);
    return `$${String(args.length)}`;
  };
}

/** WHERE over usage events, its placeholders numbered after `args` already bound. */
function whereClause(f: UsageFilter, args: unknown[] = []): { where: string; args: unknown[] } {
  return { where: usageWhere(f, pgBind(args)), args };
}

/** The tokens a budget counts, as a scalar subquery. */
function usedExpr(f: UsageFilter, args: unknown[]): string {
  return `(${usedSelect(f, pgBind(args))})`;
}

/**
 * The server's clock as an ISO string. Reservations are stamped and expired
 * by it, not by each host's clock: hosts whose clocks disagree still agree
 * on which holds are open.
 */
const SERVER_NOW = `to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const RESERVATION_CUTOFF = `to_char((now() - interval '${String(RESERVATION_TTL_MS)} milliseconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Tokens held by a scope's open reservations (younger than the TTL), as a scalar subquery. */
function reservedExpr(scope: string, args: unknown[]): string {
  args.push(scope);
  return `(SELECT coalesce(sum(tokens), 0) FROM reservations
           WHERE scope = $${args.length} AND NOT released AND at >= ${RESERVATION_CUTOFF})`;
}

/** Inserts an event and, only when its id is new, adds it to the hourly totals: one statement. */
const INSERT_USAGE = `
  WITH ins AS (
    INSERT INTO usage_events (at, host, event_id, slug, identity, agent, provider, bottles, api, model,
      request_id, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, estimated, unmetered,
      input_estimate, cap_requested, cap_granted)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING at, identity, agent, provider, bottles, input_tokens + output_tokens AS tokens
  )
  INSERT INTO usage_hourly (hour, identity, agent, provider, bottles, tokens)
    SELECT substr(at, 1, 13) || ':00:00.000Z', identity, agent, provider, bottles, tokens FROM ins
  ON CONFLICT (hour, identity, agent, provider, bottles)
    DO UPDATE SET tokens = usage_hourly.tokens + excluded.tokens`;

/**
 * Token columns are BIGINT: an estimate that is not a whole number (bytes / 4)
 * is charged up, never refused, so a usage write cannot fail on it.
 */
const whole = (n: number): number => Math.ceil(n);

function usageArgs(e: UsageEvent): unknown[] {
  return [
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
    whole(e.inputTokens),
    whole(e.outputTokens),
    whole(e.cacheCreationTokens),
    whole(e.cacheReadTokens),
    e.estimated,
    e.unmetered,
    e.inputEstimate == null ? null : whole(e.inputEstimate),
    e.capRequested == null ? null : whole(e.capRequested),
    e.capGranted == null ? null : whole(e.capGranted),
  ];
}

/**
 * Admission's transaction. A reservation is a hold on a call in flight, not
 * a record of spend: its commit need not wait for the disk, so a scope's
 * lock is held for the statements only. A server crash may forget the holds
 * of calls then in flight; their usage is recorded, durably, when they settle.
 */
const ASYNC_COMMIT = 'BEGIN; SET LOCAL synchronous_commit = off';

/** An error thrown by the caller's decide function: passed through as it is, not as a store error. */
class DecideFailed extends Error {
  constructor(readonly error: unknown) {
    super('decide failed');
  }
}

/**
 * The ledger in a Postgres database, shared by the controllers of several
 * hosts. Admission locks one row per budget scope (FOR UPDATE, in sorted
 * order so two admissions never deadlock) before summing usage and open
 * reservations, so admissions against a scope run one at a time on every
 * host while writes of usage never wait for them. The schema is migrated on
 * first use, under an advisory lock.
 */
export class PostgresLedger implements LedgerStore {
  private readonly config: PoolConfig;
  private pool: Promise<Pool> | undefined;
  private readonly endpoint: string;
  private readonly secrets: string[];
  private readonly timeoutMs: number;
  private readonly target: number;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(url: string, opts: PostgresLedgerOptions = {}) {
    const problem = ledgerUrlProblem(url);
    if (problem !== undefined) throw new ConfigError({ entity: 'ledger', field: 'url' }, problem);
    this.endpoint = urlEndpoint(url);
    this.secrets = urlSecrets(url);
    this.target = opts.migrateTo ?? PG_LATEST_SCHEMA;
    this.timeoutMs = opts.connectTimeoutMs ?? 5_000;
    const statementMs = opts.statementTimeoutMs ?? 15_000;
    this.config = {
      connectionString: url,
      max: opts.maxConnections ?? 4,
      connectionTimeoutMillis: this.timeoutMs,
      statement_timeout: statementMs,
      // The client gives up too, should the server accept and then go silent.
      query_timeout: statementMs + this.timeoutMs,
      // A controller stopped mid-transaction must not hold a budget's lock for long.
      idle_in_transaction_session_timeout: statementMs,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
      keepAlive: true,
      application_name: 'bot-bottle',
    };
  }

  /** The pool, made on first use: hosts on the SQLite ledger never load the driver. */
  private connections(): Promise<Pool> {
    if (this.closed && this.pool === undefined) {
      return Promise.reject(new Error('the ledger store was closed'));
    }
    this.pool ??= import('pg').then(({ Pool: Driver }) => {
      const pool = new Driver(this.config);
      // An idle connection dropped (the server restarted): the pool makes a
      // new one for the next query, which reports if the server is still away.
      pool.on('error', () => undefined);
      return pool;
    });
    return this.pool;
  }

  private wrap(e: unknown): Error {
    return storeError(e, this.endpoint, this.secrets, this.timeoutMs);
  }

  private async query(sql: string, args: unknown[] = [], on?: Queryable): Promise<Row[]> {
    try {
      return (await (on ?? (await this.connections())).query<Row>(sql, args)).rows;
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /**
   * One transaction on one connection; a connection that failed is dropped,
   * not reused. `begin` may add settings for this transaction only.
   */
  private async transaction<T>(fn: (c: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    let client: PoolClient;
    try {
      client = await (await this.connections()).connect();
    } catch (e) {
      throw this.wrap(e);
    }
    // The server going away between statements makes a checked-out client
    // emit 'error' with no query to fail: without a listener that would end
    // the process. The next statement fails and reports it instead.
    const lost = (): void => undefined;
    client.on('error', lost);
    try {
      await client.query(begin);
      const out = await fn(client);
      await client.query('COMMIT');
      client.removeListener('error', lost);
      client.release();
      return out;
    } catch (e) {
      let broken = false;
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      client.removeListener('error', lost);
      client.release(broken);
      if (e instanceof DecideFailed) throw e.error;
      throw this.wrap(e);
    }
  }

  /** Runs `fn` once the schema is current; a failed migration is tried again on the next call. */
  private async tx<T>(fn: (c: PoolClient) => Promise<T>, begin?: string): Promise<T> {
    await this.migrated();
    return this.transaction(fn, begin);
  }

  private migrated(): Promise<void> {
    this.ready ??= this.migrate().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private async readVersion(on?: Queryable): Promise<number> {
    try {
      const { rows } = await (on ?? (await this.connections())).query<Row>(
        'SELECT max(version) AS v FROM schema_version',
      );
      const [row] = rows;
      return num(row?.v);
    } catch (e) {
      // 42P01: no schema_version table yet, a new database.
      if ((e as { code?: unknown }).code === '42P01') return 0;
      throw this.wrap(e);
    }
  }

  private async migrate(): Promise<void> {
    // The common case (already current) costs one read and takes no lock.
    if ((await this.readVersion()) >= this.target) return;
    for (const m of PG_MIGRATIONS) {
      if (m.version > this.target) break;
      await this.transaction(async (c) => {
        // Concurrent migrators queue here; the one after sees the step applied.
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
        await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
        const [row] = (await c.query<Row>('SELECT max(version) AS v FROM schema_version')).rows;
        if (num(row?.v) >= m.version) return;
        await c.query(m.sql);
        await c.query('DELETE FROM schema_version');
        await c.query('INSERT INTO schema_version (version) VALUES ($1)', [m.version]);
      });
    }
  }

  /** Whether the store answers, and its schema version; migrates nothing (for `doctor`). */
  async probe(): Promise<{ schemaVersion: number; latest: number }> {
    await this.query('SELECT 1');
    return { schemaVersion: await this.readVersion(), latest: PG_LATEST_SCHEMA };
  }

  async schemaVersion(): Promise<number> {
    await this.migrated();
    return this.readVersion();
  }

  async recordUsage(e: UsageEvent): Promise<void> {
    await this.migrated();
    await this.query(INSERT_USAGE, usageArgs(e));
  }

  private async budgetTokens(f: UsageFilter): Promise<number> {
    const args: unknown[] = [];
    const [row] = await this.query(`SELECT ${usedExpr(f, args)} AS t`, args);
    return num(row?.t);
  }

  private async sumUsage(f: UsageFilter, on?: Queryable): Promise<UsageTotals> {
    const { where, args } = whereClause(f);
    const [row] = await this.query(
      `SELECT count(*) AS events, coalesce(sum(unmetered::int), 0) AS um,
              coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o,
              coalesce(sum(cache_creation_tokens), 0) AS cc, coalesce(sum(cache_read_tokens), 0) AS cr
       FROM usage_events ${where}`,
      args,
      on,
    );
    return totalsOf(row ?? {});
  }

  async totals(f: UsageFilter): Promise<UsageTotals> {
    await this.migrated();
    return this.sumUsage(f);
  }

  async used(f: UsageFilter): Promise<number> {
    await this.migrated();
    return this.budgetTokens(f);
  }

  async byLaunch(f: UsageFilter): Promise<LaunchUsage[]> {
    await this.migrated();
    const { where, args } = whereClause(f);
    const rows = await this.query(
      `SELECT max(host) AS host, slug, identity, agent, provider, min(at) AS first, max(at) AS last,
              count(*) AS events, sum(unmetered::int) AS um, sum(input_tokens) AS i, sum(output_tokens) AS o,
              sum(cache_creation_tokens) AS cc, sum(cache_read_tokens) AS cr
       FROM usage_events ${where} GROUP BY identity, slug, agent, provider ORDER BY last DESC, identity`,
      args,
    );
    return rows.map((r) => ({
      host: str(r.host),
      slug: str(r.slug),
      identity: str(r.identity),
      agent: str(r.agent),
      provider: str(r.provider),
      first: str(r.first),
      last: str(r.last),
      ...totalsOf(r),
    }));
  }

  private async openReserved(scope: string): Promise<number> {
    const args: unknown[] = [];
    const [row] = await this.query(`SELECT ${reservedExpr(scope, args)} AS t`, args);
    return num(row?.t);
  }

  /** A window's state in one round trip: its usage, its scope's open reservations, its first usage. */
  private async windowState(w: BudgetWindow, c: PoolClient): Promise<WindowState> {
    const args: unknown[] = [];
    const used = usedExpr(w.filter, args);
    const reserved = reservedExpr(w.scope, args);
    let first = 'NULL';
    if (w.kind === 'rate') {
      const { where } = whereClause(w.filter, args);
      first = `(SELECT min(at) FROM usage_events ${where})`;
    }
    const [row] = await this.query(
      `SELECT ${used} AS used, ${reserved} AS reserved, ${first} AS first`,
      args,
      c,
    );
    return {
      window: w,
      used: num(row?.used),
      reserved: num(row?.reserved),
      firstAt: typeof row?.first === 'string' ? row.first : null,
    };
  }

  /** Locks a scope's row, making it on the scope's first admission. */
  private static async lockScope(c: PoolClient, scope: string): Promise<void> {
    const lock = 'SELECT scope FROM budget_scopes WHERE scope = $1 FOR UPDATE';
    if ((await c.query(lock, [scope])).rowCount === 1) return;
    await c.query('INSERT INTO budget_scopes (scope) VALUES ($1) ON CONFLICT DO NOTHING', [scope]);
    await c.query(lock, [scope]);
  }

  admit<D extends { reserve?: number | undefined }>(
    windows: readonly BudgetWindow[],
    slug: string,
    decide: AdmitDecide<D>,
  ): Promise<Admitted<D>> {
    return this.tx(async (c): Promise<Admitted<D>> => {
      // Lock every scope's row, in one order for everyone: an admission
      // holding `a` and wanting `b` never waits on one holding `b` wanting `a`.
      for (const scope of [...new Set(windows.map((w) => w.scope))].sort()) {
        await PostgresLedger.lockScope(c, scope);
      }
      // Read committed: each read below sees everything committed before the lock was ours.
      const states: WindowState[] = [];
      for (const w of windows) states.push(await this.windowState(w, c));
      let decision: D;
      try {
        decision = decide(states);
      } catch (e) {
        throw new DecideFailed(e);
      }
      if (decision.reserve === undefined || windows.length === 0) {
        return { decision, reservation: null };
      }
      const grp = randomUUID();
      await c.query(
        `INSERT INTO reservations (scope, slug, tokens, at, grp)
         SELECT scope, $2, $3, ${SERVER_NOW}, $4 FROM unnest($1::text[]) AS scope`,
        [windows.map((w) => w.scope), slug, Math.max(0, Math.ceil(decision.reserve)), grp],
      );
      return { decision, reservation: grp };
    }, ASYNC_COMMIT);
  }

  settle(reservation: string | null, e: UsageEvent): Promise<void> {
    return this.tx(async (c) => {
      await c.query(INSERT_USAGE, usageArgs(e));
      if (reservation !== null) {
        await c.query('UPDATE reservations SET released = true WHERE grp = $1', [reservation]);
      }
    });
  }

  async release(id: string): Promise<void> {
    await this.migrated();
    await this.query('UPDATE reservations SET released = true WHERE grp = $1', [id]);
  }

  async reserved(scope: string): Promise<number> {
    await this.migrated();
    return this.openReserved(scope);
  }

  async recordAction(a: EnforcementAction): Promise<void> {
    await this.migrated();
    await this.query(
      `INSERT INTO enforcement_actions (at, slug, identity, action, scope, used, budget_limit, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        a.at,
        a.slug,
        a.identity,
        a.action,
        a.scope,
        whole(a.used),
        a.limit === null ? null : whole(a.limit),
        a.reason,
      ],
    );
  }

  async recordRedactions(e: RedactionEvent): Promise<void> {
    await this.migrated();
    const rows = Object.entries(e.counts).filter(([, n]) => Number.isSafeInteger(n) && n > 0);
    if (rows.length === 0) return;
    await this.query(
      `INSERT INTO redactions (at, slug, identity, kind, count)
       SELECT $1, $2, $3, kind, n FROM unnest($4::text[], $5::bigint[]) AS r(kind, n)`,
      [e.at, e.slug, e.identity, rows.map(([k]) => k), rows.map(([, n]) => n)],
    );
  }

  async redactions(f: { identity: string; since?: string }): Promise<Record<string, number>> {
    await this.migrated();
    const rows = await this.query(
      `SELECT kind, sum(count) AS n FROM redactions WHERE identity = $1 AND at >= $2
       GROUP BY kind ORDER BY kind`,
      [f.identity, f.since ?? ''],
    );
    return Object.fromEntries(rows.map((r) => [str(r.kind), num(r.n)]));
  }

  async actions(
    f: { slug?: string; identity?: string; since?: string } = {},
  ): Promise<EnforcementAction[]> {
    await this.migrated();
    const where: string[] = [];
    const args: string[] = [];
    const add = (cond: string, v: string | undefined): void => {
      if (v === undefined) return;
      args.push(v);
      where.push(`${cond} $${args.length}`);
    };
    add('slug =', f.slug);
    add('identity =', f.identity);
    add('at >=', f.since);
    const rows = await this.query(
      `SELECT at, slug, identity, action, scope, used, budget_limit, reason FROM enforcement_actions
       ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY id`,
      args,
    );
    return rows.map((r) => ({
      at: str(r.at),
      slug: str(r.slug),
      identity: str(r.identity),
      action: str(r.action) as EnforcementAction['action'],
      scope: str(r.scope),
      used: num(r.used),
      limit: numOrNull(r.budget_limit),
      reason: str(r.reason),
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ready?.catch(() => undefined);
    if (this.pool !== undefined) await (await this.pool).end();
  }
}
