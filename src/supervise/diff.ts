import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';

/** sha256 of a config file's text: what a proposal was made against. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A unified diff of a config file; '' when nothing changes. */
export function renderDiff(before: string, after: string, label: string): string {
  if (before === after) return '';
  const patch = createTwoFilesPatch(
    `${label} (current)`,
    `${label} (proposed)`,
    before,
    after,
    undefined,
    undefined,
    { context: 3 },
  );
  // The library starts with an `Index:`-style separator line; the hunks are what matter.
  return patch
    .split('\n')
    .filter((l) => !l.startsWith('====') && !l.startsWith('Index:'))
    .join('\n')
    .trimEnd();
}
