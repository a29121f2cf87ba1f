import { ledgerChoice } from './open.js';

/**
 * The ledger store as messages name it: its Postgres URL with the password
 * hidden, or the host's SQLite file.
 */
export function describeLedger(env: NodeJS.ProcessEnv): string {
  const c = ledgerChoice(env);
  return c.store === 'sqlite' ? `SQLite ${c.path}` : c.shown;
}
