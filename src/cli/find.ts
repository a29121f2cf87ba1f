import { hostname } from 'node:os';
import type { ActiveBottle, Backend } from '../backend/backend.js';
import { UsageError } from '../errors.js';
import { didYouMean } from '../util/suggest.js';

export async function findActive(backend: Backend, slug: string): Promise<ActiveBottle> {
  const all = await backend.enumerateActive();
  const found = all.find((a) => a.slug === slug);
  if (found === undefined) {
    const slugs = all.map((a) => a.slug);
    throw new UsageError(
      `no running bottle '${slug}'${didYouMean(slug, slugs)}`,
      slugs.length > 0 ? `running: ${slugs.join(', ')}` : 'no bottle is running (`bot-bottle ps`)',
    );
  }
  return found;
}

/**
 * Whether the process that launched a bottle still runs. Unknown (another
 * host, no pid) counts as alive so nothing is cleaned up by mistake.
 */
export function controllerAlive(a: ActiveBottle): boolean {
  if (a.controllerPid === undefined || a.controllerHost !== hostname()) return true;
  try {
    process.kill(a.controllerPid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
