/**
 * Subsequence match: every character of the query appears in order
 * ("rsr" finds "researcher"). Case-insensitive; an empty query matches all.
 */
export function fuzzyMatch(query: string, candidate: string): boolean {
  const q = query.toLowerCase().replace(/\s+/g, '');
  const c = candidate.toLowerCase();
  let i = 0;
  for (const ch of c) {
    if (i < q.length && ch === q[i]) i++;
  }
  return i === q.length;
}
