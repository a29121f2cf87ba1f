import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decideAdmission } from '../../src/controller/admission-decision.js';
import { LedgerStoreError, PostgresLedger } from '../../src/ledger/postgres.js';
import type { BudgetWindow } from '../../src/ledger/types.js';
import { PG_LATEST_SCHEMA } from '../../src/ledger/postgres-migrations.js';
import { makeFixture } from '../helpers/fixture.js';
import { ev, ledgerBattery } from '../helpers/ledger-battery.js';
import {
  describePostgres,
  freshDatabase,
  startPrivatePostgres,
  type PrivatePostgres,
} from '../helpers/postgres.js';

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describePostgres('Postgres ledger', () => {
  ledgerBattery({
    fresh: async () => {
      const db = await freshDatabase('bbt_ledger');
      return { target: db.url, cleanup: () => db.drop() };
    },
    open: (url, opts) => new PostgresLedger(url, opts),
    latest: PG_LATEST_SCHEMA,
    previous: PG_LATEST_SCHEMA - 1,
    insertPreviousEvent: (url, slug, [i, o]) =>
      withClient(url, async (c) => {
        await c.query(
          `INSERT INTO usage_events (at, slug, identity, agent, provider, bottles, api, model, request_id,
             input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, estimated, unmetered)
           VALUES ('2026-11-21T10:00:00.000Z', $1, $2, 'a', 'claude', ' b ', 'anthropic-messages', NULL, NULL, $3, $4, 0, 0, true, false)`,
          [slug, `${slug}-1`, i, o],
        );
        await c.query(
          `INSERT INTO usage_hourly (hour, identity, agent, provider, bottles, tokens)
           VALUES ('2026-11-21T10:00:00.000Z', $1, 'a', 'claude', ' b ', $2)
           ON CONFLICT (hour, identity, agent, provider, bottles) DO UPDATE SET tokens = usage_hourly.tokens + excluded.tokens`,
          [`${slug}-1`, i + o],
        );
      }),
  });
});

describePostgres('Postgres ledger: opening and failing', () => {
  it('migrates once when several processes open a new database at the same moment', async () => {
    const db = await freshDatabase('bbt_migrate');
    try {
      // Eight processes race to migrate the empty database, then write.
      const codes = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) =>
            new Promise<number | null>((resolve) => {
              const c = spawn(
                process.execPath,
                [
                  '--input-type=module',
                  '-e',
                  `import { PostgresLedger } from ${JSON.stringify(new URL('../../dist/ledger/postgres.js', import.meta.url).href)};
                   const l = new PostgresLedger(process.argv[1]);
                   await l.recordUsage({ at: new Date().toISOString(), slug: 'm${String(i)}', identity: 'm', agent: 'a',
                     provider: 'claude', bottles: [], api: 'x', model: null, requestId: null, inputTokens: 1,
                     outputTokens: 1, cacheCreationTokens: 0, cacheReadTokens: 0, estimated: false,
                     unmetered: false, host: 'h', eventId: 'e${String(i)}' });
                   await l.close();`,
                  db.url,
                ],
                { stdio: ['ignore', 'inherit', 'inherit'] },
              );
              c.on('exit', resolve);
            }),
        ),
      );
      expect(codes).toEqual(Array(8).fill(0));
      const l = new PostgresLedger(db.url);
      expect(await l.schemaVersion()).toBe(PG_LATEST_SCHEMA);
      expect((await l.totals({})).events).toBe(8);
      await l.close();
      const versions = await withClient(db.url, (c) =>
        c.query('SELECT version FROM schema_version'),
      );
      expect(versions.rows).toEqual([{ version: PG_LATEST_SCHEMA }]);
    } finally {
      await db.drop();
    }
  }, 60_000);

  it('keeps times as the ISO strings written, in time order whatever the database locale', async () => {
    const db = await freshDatabase('bbt_times');
    const l = new PostgresLedger(db.url);
    try {
      await l.recordUsage(ev({ at: '2026-11-21T10:00:00.000Z' }));
      await l.recordUsage(ev({ at: '2026-11-21T09:59:59.999Z' }));
      const [launch] = await l.byLaunch({});
      expect([launch?.first, launch?.last]).toEqual([
        '2026-11-21T09:59:59.999Z',
        '2026-11-21T10:00:00.000Z',
      ]);
      expect((await l.totals({ since: '2026-11-21T10:00:00.000Z' })).events).toBe(1);
    } finally {
      await l.close();
      await db.drop();
    }
  });

  it('charges a token count that is not a whole number up instead of failing the write', async () => {
    const db = await freshDatabase('bbt_whole');
    const l = new PostgresLedger(db.url);
    try {
      await l.settle(null, ev({ inputTokens: 10.25, outputTokens: 0, inputEstimate: 10.25 }));
      expect(await l.totals({})).toMatchObject({ events: 1, inputTokens: 11 });
      expect(await l.used({ provider: 'claude' })).toBe(11);
    } finally {
      await l.close();
      await db.drop();
    }
  });

  it('gives up on an admission whose scope another transaction holds too long', async () => {
    const db = await freshDatabase('bbt_stuck');
    const l = new PostgresLedger(db.url, { statementTimeoutMs: 1000 });
    const w: BudgetWindow = { scope: 'g', filter: {}, limit: 10, kind: 'budget' };
    const holder = new pg.Client({ connectionString: db.url });
    try {
      await l.admit([w], 's', (st) => decideAdmission(st, { estimate: 1 }));
      // Another host's transaction stuck while holding the scope's lock.
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query("SELECT scope FROM budget_scopes WHERE scope = 'g' FOR UPDATE");
      const t0 = Date.now();
      const err = await l
        .admit([w], 's', (st) => decideAdmission(st, { estimate: 1 }))
        .catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(4000);
      expect(err).toBeInstanceOf(LedgerStoreError);
      expect((err as Error).message).toMatch(/a statement did not finish in time/);
      await holder.query('ROLLBACK');
      // Nothing was held by the admission that gave up.
      expect(await l.reserved('g')).toBe(1);
    } finally {
      await holder.end();
      await l.close();
      await db.drop();
    }
  });

  it('fails within seconds with a typed error naming host:port when nothing listens', async () => {
    // A port of this machine's loopback that nothing listens on.
    const url = 'postgres://botbottle:sekret-Pa55@127.0.0.1:9/botbottle';
    const l = new PostgresLedger(url, { connectTimeoutMs: 2000 });
    const t0 = Date.now();
    const err = await l.totals({}).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(LedgerStoreError);
    const e = err as LedgerStoreError;
    expect(e.message).toContain('127.0.0.1:9');
    expect(e.message).toMatch(/cannot be reached/);
    expect(e.unreachable).toBe(true);
    expect(e.exitCode).toBe(3);
    expect(JSON.stringify({ m: e.message, d: e.data, h: e.hint, s: e.stack })).not.toContain(
      'sekret-Pa55',
    );
    await l.close();
  });

  it('refuses a wrong password without showing any password', async () => {
    const db = await freshDatabase('bbt_auth');
    try {
      const u = new URL(db.url);
      const real = decodeURIComponent(u.password);
      u.password = 'not-the-Pa55word';
      const l = new PostgresLedger(u.toString());
      const err = await l.schemaVersion().catch((e: unknown) => e);
      await l.close();
      expect(err).toBeInstanceOf(LedgerStoreError);
      const e = err as LedgerStoreError;
      expect(e.message).toMatch(/refused the login.*password authentication failed/);
      expect(e.message).toContain(`${u.hostname}:${u.port}`);
      const shown = JSON.stringify({ m: e.message, d: e.data, h: e.hint, s: e.stack });
      expect(shown).not.toContain('not-the-Pa55word');
      expect(shown).not.toContain(real);
    } finally {
      await db.drop();
    }
  });

  it('is the store the CLI uses when BOT_BOTTLE_LEDGER_URL names it, and doctor says it answers', async () => {
    const db = await freshDatabase('bbt_cli');
    const fx = makeFixture({}, { BOT_BOTTLE_LEDGER_URL: db.url });
    try {
      const l = new PostgresLedger(db.url);
      await l.recordUsage(ev({ slug: 'from-pg', identity: 'from-pg-1', host: 'mac-7' }));
      await l.close();
      const usage = await fx.run(['usage', '--json']);
      expect(usage.code).toBe(0);
      expect(usage.stdout).toContain('from-pg-1');
      const doctor = await fx.run(['doctor']);
      const line = doctor.stdout.split('\n').find((x) => x.includes(' ledger '));
      const u = new URL(db.url);
      expect(line).toContain(
        `ok    ledger          Postgres postgres://botbottle:***@${u.host}/${db.name} (BOT_BOTTLE_LEDGER_URL) answers, schema version ${String(PG_LATEST_SCHEMA)}`,
      );
      expect(doctor.stdout + doctor.stderr + usage.stdout + usage.stderr).not.toContain(
        decodeURIComponent(u.password),
      );
    } finally {
      fx.cleanup();
      await db.drop();
    }
  });

  it('refuses a URL of another kind with a clear message', () => {
    expect(() => new PostgresLedger('mysql://u:p@h/db')).toThrow(
      /must be a postgres:\/\/ or postgresql:\/\/ URL/,
    );
  });
});

describePostgres('Postgres ledger: admissions over several scopes', () => {
  it('never deadlocks when admissions name the same scopes in different orders', async () => {
    const db = await freshDatabase('bbt_scopes');
    // Four stores (as four hosts), each admitting 25 calls in turn over two scopes.
    const stores = Array.from({ length: 4 }, () => new PostgresLedger(db.url));
    const observer = new PostgresLedger(db.url);
    try {
      const window = (scope: string): BudgetWindow => ({
        scope,
        filter: { provider: 'claude' },
        limit: 1e9,
        kind: 'budget',
      });
      const ab = [window('global:claude'), window('agent:claude')];
      const ba = [...ab].reverse();
      const results = await Promise.all(
        stores.map(async (l, i) => {
          const ids: (string | null)[] = [];
          for (let n = 0; n < 25; n++) {
            const a = await l.admit(n % 2 === i % 2 ? ab : ba, `s${String(i)}`, (st) =>
              decideAdmission(st, { estimate: 10 }),
            );
            ids.push(a.reservation);
          }
          return ids;
        }),
      );
      const ids = results.flat();
      expect(new Set(ids).size).toBe(100);
      expect(await observer.reserved('global:claude')).toBe(1000);
      expect(await observer.reserved('agent:claude')).toBe(1000);
      await Promise.all(ids.map((id) => observer.release(id ?? '')));
      expect(await observer.reserved('agent:claude')).toBe(0);
    } finally {
      for (const l of [...stores, observer]) await l.close();
      await db.drop();
    }
  });

  it("expires abandoned holds by the server's clock, whatever a host's clock says", async () => {
    const db = await freshDatabase('bbt_ttl');
    const l = new PostgresLedger(db.url);
    try {
      await l.schemaVersion();
      await withClient(db.url, (c) =>
        c.query(
          `INSERT INTO reservations (scope, slug, tokens, at, grp) VALUES
             ('g', 'old', 100, to_char((now() - interval '31 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'a'),
             ('g', 'new', 10, to_char((now() - interval '29 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'b')`,
        ),
      );
      expect(await l.reserved('g')).toBe(10);
      const a = await l.admit(
        [{ scope: 'g', filter: {}, limit: 1000, kind: 'budget' }],
        's',
        (st) => decideAdmission(st, { estimate: 5 }),
      );
      expect(a.decision).toMatchObject({ verdict: 'admitted', reserve: 5 });
      // Stamped by the server: within a few seconds of its clock.
      const [row] = (
        await withClient(db.url, (c) =>
          c.query<{ skew: number }>(
            `SELECT abs(extract(epoch FROM (now() AT TIME ZONE 'UTC') - at::timestamp)) AS skew
             FROM reservations WHERE grp = $1`,
            [a.reservation],
          ),
        )
      ).rows;
      expect(Number(row?.skew)).toBeLessThan(5);
    } finally {
      await l.close();
      await db.drop();
    }
  });

  it('passes an error of the decision through as it is, holding nothing', async () => {
    const db = await freshDatabase('bbt_decide');
    const l = new PostgresLedger(db.url);
    try {
      const w: BudgetWindow = { scope: 'g', filter: {}, limit: 10, kind: 'budget' };
      const boom = new TypeError('bad estimate');
      await expect(
        l.admit([w], 's', () => {
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await l.reserved('g')).toBe(0);
      // The connection went back to the pool in a usable state.
      expect(
        (await l.admit([w], 's', (st) => decideAdmission(st, { estimate: 1 }))).decision,
      ).toMatchObject({
        verdict: 'admitted',
        reserve: 1,
      });
    } finally {
      await l.close();
      await db.drop();
    }
  });
});

describePostgres('Postgres ledger: a store that goes away', () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = await startPrivatePostgres();
  }, 120_000);
  afterAll(() => {
    server.dispose();
  });

  it('rejects promptly while the server is down, and works again once it is back', async () => {
    const l = new PostgresLedger(server.url, { connectTimeoutMs: 2000 });
    await l.recordUsage(ev({ eventId: 'before' }));
    server.stop('immediate');
    const t0 = Date.now();
    const err = await l.recordUsage(ev({ eventId: 'during' })).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(LedgerStoreError);
    expect((err as LedgerStoreError).message).toContain(`127.0.0.1:${String(server.port)}`);
    expect((err as LedgerStoreError).unreachable).toBe(true);
    expect((err as Error).message).not.toContain(new URL(server.url).password);
    server.start();
    // The write kept aside while the store was away lands once, with the others.
    await l.recordUsage(ev({ eventId: 'during' }));
    await l.recordUsage(ev({ eventId: 'during' }));
    await l.recordUsage(ev({ eventId: 'after' }));
    expect((await l.totals({})).events).toBe(3);
    await l.close();
  }, 60_000);
});
