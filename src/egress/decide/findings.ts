import type { Finding } from '../dlp.js';
import type { ProxyState } from '../types.js';
import { byMode, type Flag, type Refuse } from './verdict.js';

/**
 * What the scanner saw, judged: nothing is a pass; anything else refuses in
 * `enforce` and is forwarded but flagged in `audit`. Findings name the kind
 * and the place, never the value.
 */
export function findingsVerdict(
  state: ProxyState,
  findings: readonly Finding[],
): { kind: 'pass' } | Flag | Refuse {
  if (findings.length === 0) return { kind: 'pass' };
  const places = [...new Set(findings.map((f) => `${f.kind} in ${f.where}`))];
  return byMode(
    state,
    `dlp ${[...new Set(findings.map((f) => f.kind))].join(',')}`,
    `the request carries what looks like a secret (${places.join('; ')})`,
    403,
    [...findings],
  );
}
