import { ledgerPath } from './sqlite.js';

/**
 * The ledger store as messages name it: a Postgres URL without its
 * credentials, or the host's SQLite file. It never shows a password.
 */
export function describeLedger(env: NodeJS.ProcessEnv, url = env.BOT_BOTTLE_LEDGER_URL): string {
  const raw = url?.trim();
  if (raw === undefined || raw === '') return `SQLite ${ledgerPath(env)}`;
  try {
    const u = new URL(raw);
    const port = u.port === '' ? '' : `:${u.port}`;
    return `${u.protocol}//${u.hostname}${port}${u.pathname}`;
  } catch {
    return 'the configured ledger URL (unparsable)';
  }
}
