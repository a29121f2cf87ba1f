/** Parse a token count as typed on the command line: `5000000`, `5m`, `200k`, `1_000_000`. */
export function parseTokenCount(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text.replace(/[_,]/g, ''));
  if (m === null) return undefined;
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1;
  const n = Math.round(Number(m[1]) * mult);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export function formatTokens(n: number): string {
  return n.toLocaleString('en-US');
}

/** A token count for a narrow column: 1058, 12.3k, 2.50M. */
export function shortTokens(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}
