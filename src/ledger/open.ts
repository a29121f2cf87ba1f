import { SqliteLedger, ledgerPath } from './sqlite.js';
import type { LedgerStore } from './types.js';

/** The host's ledger. One place to choose the store (a Postgres store would plug in here). */
export function openLedger(env: NodeJS.ProcessEnv): LedgerStore {
  return new SqliteLedger(ledgerPath(env));
}

export async function withLedger<T>(
  env: NodeJS.ProcessEnv,
  fn: (l: LedgerStore) => Promise<T>,
): Promise<T> {
  const l = openLedger(env);
  try {
    return await fn(l);
  } finally {
    await l.close();
  }
}
