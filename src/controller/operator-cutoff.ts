import type { EnforcementAction, LedgerStore } from '../ledger/types.js';

/**
 * Whether an operator has cut off a launch's metered calls, read from the
 * ledger's enforcement log. Its own module: the in-cluster controller
 * needs it and none of the engine-side enforcement.
 */

/** Whether an operator's cutoff is in force for a launch (the latest cutoff/restore wins). */
export async function operatorCutoff(
  ledger: LedgerStore,
  identity: string,
  since: string,
): Promise<boolean> {
  return cutOffBy(await ledger.actions({ identity, since }));
}

/** The same decision over a launch's actions already read (oldest first). */
export function cutOffBy(actions: readonly EnforcementAction[], since = ''): boolean {
  const last = actions
    .filter(
      (a) =>
        a.at >= since &&
        a.scope === 'operator' &&
        (a.action === 'cutoff' || a.action === 'restore'),
    )
    .at(-1);
  return last?.action === 'cutoff';
}
