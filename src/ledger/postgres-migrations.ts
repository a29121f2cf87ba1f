/**
 * The Postgres ledger's schema steps. Its own list (SQL differs from
 * SQLite's), with the same meaning: version 1 holds what SQLite's
 * versions 1 to 5 built, version 2 what SQLite's version 6 added. Each
 * step runs in its own transaction under an advisory lock, so two
 * processes (or hosts) opening a new ledger at once apply nothing twice.
 *
 * Times are ISO strings (as SQLite keeps them and callers pass them) in
 * `COLLATE "C"` columns: byte order is time order whatever the database's
 * locale (a language collation may ignore the `-` and `:` of a timestamp).
 */
export const PG_MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE usage_events (
        id BIGSERIAL PRIMARY KEY,
        at TEXT COLLATE "C" NOT NULL,
        slug TEXT NOT NULL,
        identity TEXT NOT NULL,
        agent TEXT NOT NULL,
        provider TEXT NOT NULL,
        bottles TEXT NOT NULL,
        api TEXT NOT NULL,
        model TEXT,
        request_id TEXT,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cache_creation_tokens BIGINT NOT NULL DEFAULT 0,
        cache_read_tokens BIGINT NOT NULL DEFAULT 0,
        estimated BOOLEAN NOT NULL,
        unmetered BOOLEAN NOT NULL DEFAULT false
      );
      CREATE INDEX usage_by_provider_time ON usage_events (provider, at);
      CREATE INDEX usage_by_slug ON usage_events (slug);
      CREATE INDEX usage_by_identity ON usage_events (identity, at);
      CREATE TABLE enforcement_actions (
        id BIGSERIAL PRIMARY KEY,
        at TEXT COLLATE "C" NOT NULL,
        slug TEXT NOT NULL,
        identity TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        scope TEXT NOT NULL,
        used BIGINT NOT NULL,
        budget_limit BIGINT,
        reason TEXT NOT NULL
      );
      CREATE INDEX actions_by_identity ON enforcement_actions (identity, id);
      CREATE TABLE reservations (
        id BIGSERIAL PRIMARY KEY,
        scope TEXT NOT NULL,
        slug TEXT NOT NULL,
        tokens BIGINT NOT NULL,
        at TEXT COLLATE "C" NOT NULL,
        released BOOLEAN NOT NULL DEFAULT false
      );
      CREATE INDEX reservations_open ON reservations (scope, released);
      -- Admission sums a budget's tokens on every metered call: from hourly
      -- totals per launch, so the cost does not grow with the day's calls.
      CREATE TABLE usage_hourly (
        hour TEXT COLLATE "C" NOT NULL,
        identity TEXT NOT NULL,
        agent TEXT NOT NULL,
        provider TEXT NOT NULL,
        bottles TEXT NOT NULL,
        tokens BIGINT NOT NULL,
        PRIMARY KEY (hour, identity, agent, provider, bottles)
      );
      CREATE INDEX hourly_by_provider ON usage_hourly (provider, hour);
      CREATE TABLE redactions (
        id BIGSERIAL PRIMARY KEY,
        at TEXT COLLATE "C" NOT NULL,
        slug TEXT NOT NULL,
        identity TEXT NOT NULL,
        kind TEXT NOT NULL,
        count BIGINT NOT NULL
      );
      CREATE INDEX redactions_by_identity ON redactions (identity, at);
    `,
  },
  {
    // A store shared by hosts: each event names its host and carries a
    // unique id (a write retried after an outage lands once) and what
    // admission did to it; one reservation may hold several scopes, grouped
    // by id. budget_scopes has one row per reservation scope: admission
    // locks it (FOR UPDATE), so admissions against one scope queue on any
    // host while those against others run.
    version: 2,
    sql: `
      ALTER TABLE usage_events ADD COLUMN host TEXT NOT NULL DEFAULT '';
      ALTER TABLE usage_events ADD COLUMN event_id TEXT;
      CREATE UNIQUE INDEX usage_by_event_id ON usage_events (event_id);
      CREATE INDEX usage_by_host ON usage_events (host);
      ALTER TABLE usage_events ADD COLUMN input_estimate BIGINT;
      ALTER TABLE usage_events ADD COLUMN cap_requested BIGINT;
      ALTER TABLE usage_events ADD COLUMN cap_granted BIGINT;
      ALTER TABLE reservations ADD COLUMN grp TEXT NOT NULL DEFAULT '';
      CREATE INDEX reservations_by_group ON reservations (grp);
      CREATE TABLE budget_scopes (scope TEXT PRIMARY KEY);
    `,
  },
];

export const PG_LATEST_SCHEMA = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]?.version ?? 0;

/** The advisory lock key migrators take (any fixed number; this spells "bbledger"). */
export const MIGRATION_LOCK_KEY = 0x62626c6564676572n;
