import type { Finding } from '../dlp.js';
import type { ProxyState } from '../types.js';
import { findingsVerdict } from './findings.js';
import { byMode, isRefusal, mergeFlags, type Flag, type Refuse } from './verdict.js';

/** Why a body (or a WebSocket message) could not be read whole. */
export type BodyProblem =
  { kind: 'undecodable'; coding: string; detail: string } | { kind: 'over-limit'; limit: number };

/** A problem reading the body: refused in `enforce` (400, 413), flagged in `audit`. */
export function problemVerdict(
  state: ProxyState,
  p: BodyProblem,
  subject = 'the body',
): Refuse | Flag {
  if (p.kind === 'undecodable') {
    return byMode(
      state,
      'body-encoding undecodable',
      `${subject} does not decode as ${p.coding} (${p.detail}), so it cannot be scanned`,
      400,
    );
  }
  return byMode(
    state,
    'body-decoded-size',
    `${subject} decodes to more than ${Math.round(p.limit / 1024 / 1024)} MiB, past what the scanner reads (a compression bomb?)`,
    413,
  );
}

export interface BodyFacts {
  /** Everything the scanner found in this request (head and body). */
  findings: readonly Finding[];
  /** Why the body could not be read whole, if it could not. */
  problem: BodyProblem | undefined;
  /** The encoding verdict when it only flagged (audit). */
  encoding: Flag | undefined;
  /** What is judged, in the refusal text (default: the body). */
  subject?: string;
}

/**
 * The verdict on a request once its body (or the part read so far) has
 * been decoded and scanned: a body that could not be read whole is judged
 * first (it cannot be called clean), then the findings. In `audit` every
 * reason is kept in one flag, so the log says all that would have refused.
 */
export function bodyVerdict(state: ProxyState, f: BodyFacts): { kind: 'pass' } | Flag | Refuse {
  const flags: Flag[] = f.encoding === undefined ? [] : [f.encoding];
  if (f.problem !== undefined) {
    const pv = problemVerdict(state, f.problem, f.subject);
    if (isRefusal(pv)) return pv;
    flags.push(pv);
  }
  const fv = findingsVerdict(state, f.findings);
  if (isRefusal(fv)) return fv;
  if (fv.kind === 'flag') flags.push(fv);
  return mergeFlags(flags, '; ') ?? { kind: 'pass' };
}
