import type { Backend, EngineImage } from '../backend/backend.js';
import { expiredSaved, type ExpiryReason, type KeepRules } from './retention.js';
import { listSaved, removeSavedState, type SavedBottle } from './state.js';

/**
 * Carry out retention decisions: forget saved bottles (their image and
 * record, as `rm` does; the git branch and the egress audit log stay).
 */

export interface ForgottenBottle {
  identity: string;
  agent: string;
  image: string;
  reason: SavedBottle['reason'];
  savedAt: string;
  why: ExpiryReason;
  /** Bytes only its image held (what removing it freed); 0 when the image was gone. */
  bytes: number;
}

/** Images by reference, for sizes; an engine that cannot list them gives none. */
export async function imagesByRef(backend: Backend): Promise<Map<string, EngineImage>> {
  const images = await backend.listImages();
  return new Map(images.map((i) => [i.ref, i]));
}

/** Remove a saved bottle's image and its record. */
export async function forgetSaved(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  saved: SavedBottle,
): Promise<void> {
  if (saved.reason !== 'running') await backend.removeSaved(saved.image);
  removeSavedState(env, saved.identity);
}

/**
 * Which saved bottles `rules` expire now: bottles the engine still runs and
 * those in `protect` (the one just saved) never. With `dryRun` nothing is
 * removed; the list is what would go.
 */
export async function applyKeep(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  rules: KeepRules,
  opts: { now?: Date; protect?: readonly string[]; dryRun?: boolean } = {},
): Promise<ForgottenBottle[]> {
  const running = (await backend.enumerateActive()).map((a) => a.identity);
  const protect = new Set([...running, ...(opts.protect ?? [])]);
  const expired = expiredSaved(listSaved(env), rules, opts.now ?? new Date(), protect);
  if (expired.length === 0) return [];
  const images = await imagesByRef(backend);
  const out: ForgottenBottle[] = [];
  for (const { bottle, why } of expired) {
    if (opts.dryRun !== true) await forgetSaved(backend, env, bottle);
    out.push({
      identity: bottle.identity,
      agent: bottle.agent,
      image: bottle.image,
      reason: bottle.reason,
      savedAt: bottle.savedAt,
      why,
      bytes: images.get(bottle.image)?.uniqueSize ?? 0,
    });
  }
  return out;
}
