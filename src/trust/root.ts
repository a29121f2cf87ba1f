import { realpathSync } from 'node:fs';

/** The real path of a repository root (the key of its trust record); the path itself if it cannot be resolved. */
export function realRoot(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    return root;
  }
}
