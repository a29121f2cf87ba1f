import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA } from '../../src/ledger/migrations.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { ev, ledgerBattery } from '../helpers/ledger-battery.js';

describe('SQLite ledger', () => {
  ledgerBattery({
    fresh: () => {
      const dir = mkdtempSync(join(tmpdir(), 'bb-ledger-'));
      return Promise.resolve({
        target: join(dir, 'nested', 'bot-bottle.db'),
        cleanup: () => {
          rmSync(dir, { recursive: true, force: true });
          return Promise.resolve();
        },
      });
    },
    open: (path, opts) => new SqliteLedger(path, opts),
    latest: LATEST_SCHEMA,
    previous: LATEST_SCHEMA - 1,
    insertPreviousEvent: (path, slug, [i, o]) => {
      const raw = new Database(path);
      raw
        .prepare(
          `INSERT INTO usage_events (at, slug, identity, agent, provider, bottles, api, model, request_id,
             input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, estimated, unmetered)
           VALUES ('2026-11-21T10:00:00.000Z', ?, ?, 'a', 'claude', ' b ', 'anthropic-messages', NULL, NULL, ?, ?, 0, 0, 1, 0)`,
        )
        .run(slug, `${slug}-1`, i, o);
      raw
        .prepare(
          `INSERT INTO usage_hourly (hour, identity, agent, provider, bottles, tokens)
           VALUES ('2026-11-21T10:00:00.000Z', ?, 'a', 'claude', ' b ', ?)
           ON CONFLICT (hour, identity, agent, provider, bottles) DO UPDATE SET tokens = tokens + excluded.tokens`,
        )
        .run(`${slug}-1`, i + o);
      raw.close();
      return Promise.resolve();
    },
    checkIntegrity: (path) => {
      const raw = new Database(path);
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      raw.close();
      return Promise.resolve();
    },
  });
});

describe('SQLite ledger file', () => {
  let dir: string;
  let db: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bb-ledger-'));
    db = join(dir, 'bot-bottle.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is in WAL mode, so dashboards never block writers', async () => {
    await new SqliteLedger(db).close();
    const raw = new Database(db);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('opens while another process holds the new file locked (two controllers starting at once)', async () => {
    // Another process is writing to the not-yet-WAL file for a moment.
    // Switching to WAL needs the exclusive lock, and SQLite refuses that at
    // once ("database is locked") instead of waiting out its busy timeout.
    new Database(db).close();
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import Database from 'better-sqlite3';
         const d = new Database(process.argv[1]);
         d.exec('CREATE TABLE IF NOT EXISTS t (x)');
         d.exec('BEGIN IMMEDIATE'); d.prepare('INSERT INTO t VALUES (1)').run();
         process.stdout.write('held\\n');
         setTimeout(() => { d.exec('COMMIT'); d.close(); }, 400);`,
        db,
      ],
      { cwd: join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(holder.stdout, 'data');
    const l = new SqliteLedger(db, { busyTimeoutMs: 5000 });
    expect(await l.schemaVersion()).toBe(LATEST_SCHEMA);
    await l.close();
    await once(holder, 'exit');
    const raw = new Database(db);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('migrates a version 1 ledger to the latest, keeping its rows', async () => {
    const old = new SqliteLedger(db, { migrateTo: 1 });
    expect(await old.schemaVersion()).toBe(1);
    await old.close();
    const raw = new Database(db);
    raw
      .prepare(
        `INSERT INTO usage_events (at, slug, identity, agent, provider, bottles, api, model, request_id, input_tokens, output_tokens, estimated)
         VALUES ('2026-01-01', 'old', 'old-1', 'a', 'claude', ' b ', 'anthropic-messages', NULL, NULL, 7, 8, 0)`,
      )
      .run();
    raw.close();
    const l = new SqliteLedger(db);
    expect(await l.schemaVersion()).toBe(LATEST_SCHEMA);
    expect(await l.totals({ slug: 'old' })).toMatchObject({
      events: 1,
      tokens: 15,
      cacheReadTokens: 0,
      unmeteredEvents: 0,
    });
    // The hourly totals of version 3 were built from the rows already there.
    expect(await l.used({ provider: 'claude' })).toBe(15);
    await l.recordUsage(ev());
    expect((await l.totals({})).events).toBe(2);
    await l.close();
  });
});
