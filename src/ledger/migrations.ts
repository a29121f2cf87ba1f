/**
 * Schema steps, applied in order inside one transaction each; the
 * `schema_version` table records the last one applied, so opening a ledger
 * twice (or from two processes at once) applies nothing twice.
 */
export const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE usage_events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        slug TEXT NOT NULL,
        identity TEXT NOT NULL,
        agent TEXT NOT NULL,
        provider TEXT NOT NULL,
        bottles TEXT NOT NULL,
        api TEXT NOT NULL,
        model TEXT,
        request_id TEXT,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        estimated INTEGER NOT NULL
      );
      CREATE INDEX usage_by_provider_time ON usage_events (provider, at);
      CREATE INDEX usage_by_slug ON usage_events (slug);
      CREATE TABLE enforcement_actions (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        slug TEXT NOT NULL,
        action TEXT NOT NULL,
        scope TEXT NOT NULL,
        used INTEGER NOT NULL,
        budget_limit INTEGER,
        reason TEXT NOT NULL
      );
    `,
  },
  {
    // Cache tokens kept apart, and reservations for admission control.
    version: 2,
    sql: `
      ALTER TABLE usage_events ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE usage_events ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE reservations (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        slug TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        at TEXT NOT NULL,
        released INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX reservations_open ON reservations (scope, released);
    `,
  },
  {
    // Actions name the launch they belong to (a slug is reused by later
    // bottles); hourly totals make budget sums cheap.
    version: 3,
    sql: `
      ALTER TABLE enforcement_actions ADD COLUMN identity TEXT NOT NULL DEFAULT '';
      CREATE INDEX actions_by_identity ON enforcement_actions (identity, id);
      CREATE INDEX usage_by_identity ON usage_events (identity, at);
      -- Admission sums a budget's tokens on every metered call: from hourly
      -- totals per launch, so the cost does not grow with the day's calls.
      CREATE TABLE usage_hourly (
        hour TEXT NOT NULL,
        identity TEXT NOT NULL,
        agent TEXT NOT NULL,
        provider TEXT NOT NULL,
        bottles TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        PRIMARY KEY (hour, identity, agent, provider, bottles)
      );
      CREATE INDEX hourly_by_provider ON usage_hourly (provider, hour);
      INSERT INTO usage_hourly (hour, identity, agent, provider, bottles, tokens)
        SELECT substr(at, 1, 13) || ':00:00.000Z', identity, agent, provider, bottles,
               sum(input_tokens + output_tokens)
        FROM usage_events GROUP BY 1, identity, agent, provider, bottles;
    `,
  },
  {
    // Calls whose usage could not be read, charged their estimate instead.
    version: 4,
    sql: `
      ALTER TABLE usage_events ADD COLUMN unmetered INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    // Secrets redacted from LLM requests, per launch and kind (never the values).
    version: 5,
    sql: `
      CREATE TABLE redactions (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        slug TEXT NOT NULL,
        identity TEXT NOT NULL,
        kind TEXT NOT NULL,
        count INTEGER NOT NULL
      );
      CREATE INDEX redactions_by_identity ON redactions (identity, at);
    `,
  },
  {
    // A shared store: each event names its host and carries a unique id (a
    // write retried after an outage lands once) and what admission did to
    // the call (input estimate, output cap asked and granted); one reservation may hold
    // several scopes (a budget and its rate limits), grouped by id.
    version: 6,
    sql: `
      ALTER TABLE usage_events ADD COLUMN host TEXT NOT NULL DEFAULT '';
      ALTER TABLE usage_events ADD COLUMN event_id TEXT;
      CREATE UNIQUE INDEX usage_by_event_id ON usage_events (event_id);
      ALTER TABLE usage_events ADD COLUMN input_estimate INTEGER;
      ALTER TABLE usage_events ADD COLUMN cap_requested INTEGER;
      ALTER TABLE usage_events ADD COLUMN cap_granted INTEGER;
      ALTER TABLE reservations ADD COLUMN grp TEXT NOT NULL DEFAULT '';
      CREATE INDEX reservations_by_group ON reservations (grp);
    `,
  },
];

export const LATEST_SCHEMA = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
