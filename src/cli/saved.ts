import type { ExpiryReason, KeepRules } from '../controller/retention.js';

/** Sizes as the engine shows them (decimal units). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i] ?? ''}`;
}

/** A span as settings write it: 7d, 12h, 30m, 90s (weeks as days: 14d). */
export function formatSpan(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

/** Why retention removed a saved bottle, in the words of the rule. */
export function describeExpiry(why: ExpiryReason, rules: KeepRules): string {
  if (why === 'beyond-last') return `not among the last ${rules.last ?? 0} of its agent`;
  return `older than ${formatSpan(rules.maxAgeMs ?? 0)}`;
}
