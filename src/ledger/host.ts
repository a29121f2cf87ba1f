import { hostname } from 'node:os';

/**
 * The name this host's launches carry in the ledger, so a store shared by
 * several hosts shows whose each launch was. `BOT_BOTTLE_HOST_NAME`
 * overrides the machine's name (two hosts' names must differ).
 */
export function ledgerHost(env: NodeJS.ProcessEnv): string {
  const named = env.BOT_BOTTLE_HOST_NAME?.trim();
  return named !== undefined && named !== '' ? named : hostname();
}
