import { loadSettings, type Settings } from '../settings/settings.js';
import { PostgresLedger } from './postgres.js';
import { SqliteLedger, ledgerPath } from './sqlite.js';
import { spoolDir } from './spool-format.js';
import { spooled, type SpooledLedger } from './spool.js';
import type { LedgerStore } from './types.js';
import { redactedUrl } from './url.js';

/** Which store holds the ledger: the host's SQLite file, or a Postgres database shared by hosts. */
export type LedgerChoice =
  | { store: 'sqlite'; path: string }
  | {
      store: 'postgres';
      url: string;
      /** The URL without its password, for people. */
      shown: string;
      /** Where it was configured, as a user would write it. */
      from: 'BOT_BOTTLE_LEDGER_URL' | 'settings.yml ledger.url';
    };

/** The store the settings name (BOT_BOTTLE_LEDGER_URL wins over settings.yml); SQLite by default. */
export function chooseLedger(
  env: NodeJS.ProcessEnv,
  settings: Pick<Settings, 'ledgerUrl'>,
): LedgerChoice {
  const u = settings.ledgerUrl;
  if (u === undefined) return { store: 'sqlite', path: ledgerPath(env) };
  return {
    store: 'postgres',
    url: u.url,
    shown: redactedUrl(u.url),
    from: u.source === 'env' ? 'BOT_BOTTLE_LEDGER_URL' : 'settings.yml ledger.url',
  };
}

/** The store for this host's settings and environment. */
export function ledgerChoice(env: NodeJS.ProcessEnv): LedgerChoice {
  return chooseLedger(env, loadSettings({ cwd: process.cwd(), env }));
}

export function openStore(choice: LedgerChoice): LedgerStore {
  return choice.store === 'sqlite' ? new SqliteLedger(choice.path) : new PostgresLedger(choice.url);
}

/** The host's ledger. The one place the store is chosen. */
export function openLedger(env: NodeJS.ProcessEnv): LedgerStore {
  return openStore(ledgerChoice(env));
}

/**
 * The host's ledger with its spool: writes the store does not take are kept
 * on the host and written once it answers. `name` names the spool file (a
 * launch's identity); `retryMs` retries while the process runs.
 */
export function openSpooledLedger(
  env: NodeJS.ProcessEnv,
  o: { name: string; log?: (line: string) => void; retryMs?: number },
): SpooledLedger {
  return spooled(openLedger(env), { dir: spoolDir(env), ...o });
}

/**
 * A command's use of the ledger: the host's spool is written first, if the
 * store answers; `log` hears of a write kept in the spool.
 */
export async function withLedger<T>(
  env: NodeJS.ProcessEnv,
  fn: (l: LedgerStore) => Promise<T>,
  log?: (line: string) => void,
): Promise<T> {
  const l = openSpooledLedger(env, { name: 'commands', ...(log === undefined ? {} : { log }) });
  try {
    await l.flush().catch(() => undefined);
    return await fn(l);
  } finally {
    await l.close();
  }
}
