import type { ActiveBottle } from '../backend.js';
import { bottlesFrom } from '../cli-engine/labels.js';
import { EnvironmentError } from '../../errors.js';

interface PodmanPsEntry {
  Labels?: unknown;
  State?: unknown;
}

/**
 * Bottles from `podman ps --format json`: a JSON array whose entries carry
 * their labels as a map (podman's templates have no `.Label` function, and
 * a joined label string could be forged by a value holding a comma).
 */
export function bottlesFromPodmanPs(json: string): ActiveBottle[] {
  const parsed: unknown = JSON.parse(json.trim() === '' ? '[]' : json);
  if (!Array.isArray(parsed)) throw new EnvironmentError('podman ps did not return a list');
  return bottlesFrom(
    (parsed as PodmanPsEntry[]).map((c) => ({
      Config: { Labels: c.Labels ?? {} },
      State: { Status: c.State },
    })),
  );
}
