import type { Finding } from '../dlp.js';
import type { ProxyState } from '../types.js';
import { byMode, type Flag, type Refuse } from './verdict.js';

/** Each kind and place once: `aws-access-key-id in body; entropy in url`. */
export const places = (fs: readonly Finding[]): string =>
  [...new Set(fs.map((f) => `${f.kind} in ${f.where}`))].join('; ');

/** The audit rule for findings: `dlp` and each kind once. */
export const ruleOf = (fs: readonly Finding[]): string =>
  `dlp ${[...new Set(fs.map((f) => f.kind))].join(',')}`;

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
  return byMode(
    state,
    ruleOf(findings),
    `the request carries what looks like a secret (${places(findings)})`,
    403,
    [...findings],
  );
}
