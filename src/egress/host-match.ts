/**
 * Host patterns as written in `egress.allow` / `egress.deny`:
 * `api.example.com` matches that host only; `*.example.com` matches any
 * sub-domain (not the apex itself); `:port` restricts the port, and without
 * it any port matches.
 */
export interface HostPattern {
  wildcard: boolean;
  /** Lowercase host, without the `*.` prefix. */
  host: string;
  port: number | undefined;
}

export function parseHostPattern(pattern: string): HostPattern {
  let rest = pattern.toLowerCase();
  let port: number | undefined;
  const m = /:(\d+)$/.exec(rest);
  if (m !== null) {
    port = Number(m[1]);
    rest = rest.slice(0, m.index);
  }
  const wildcard = rest.startsWith('*.');
  return { wildcard, host: wildcard ? rest.slice(2) : rest, port };
}

export function hostMatches(pattern: string, host: string, port?: number): boolean {
  const p = parseHostPattern(pattern);
  const h = host.toLowerCase().replace(/\.$/, '');
  if (p.port !== undefined && port !== undefined && p.port !== port) return false;
  if (p.port !== undefined && port === undefined) return false;
  return p.wildcard ? h.endsWith(`.${p.host}`) : h === p.host;
}

/** The first pattern in `patterns` that matches, if any. */
export function firstMatch(
  patterns: readonly string[],
  host: string,
  port?: number,
): string | undefined {
  return patterns.find((p) => hostMatches(p, host, port));
}
