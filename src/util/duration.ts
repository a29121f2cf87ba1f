const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** A span such as 90s, 30m, 24h, 7d or 2w, in milliseconds; undefined when it is not one. */
export function parseDuration(raw: string): number | undefined {
  const span = /^(\d+)([smhdw])$/.exec(raw.trim());
  if (span === null) return undefined;
  const ms = Number(span[1]) * UNIT_MS[span[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : undefined;
}
