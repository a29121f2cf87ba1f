/** Docker object names and labels derive from the slug, so keep it short and plain. */
export const MAX_SLUG_LENGTH = 40;

export function slugify(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_SLUG_LENGTH)
    .replace(/-+$/, '');
}
