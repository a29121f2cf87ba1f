import { decideRequest } from '../policy.js';
import type { ProxyState } from '../types.js';
import { refusal, type Refuse } from './verdict.js';

/** The request target as it goes upstream, and the rule that let it (absent: no rules). */
export interface PathAllow {
  kind: 'allow';
  /** Path and query to send upstream. */
  target: string;
  /** The path alone, as rules saw it. */
  path: string;
  rule: string | undefined;
}

export interface PathFacts {
  host: string;
  port: number;
  method: string;
  /** The request target as the agent sent it (origin form: path and query). */
  rawTarget: string;
}

/** Method/path rules of the host, on the path of the request target. */
export function pathVerdict(state: ProxyState, f: PathFacts): PathAllow | Refuse {
  const q = f.rawTarget.indexOf('?');
  const path = q < 0 ? f.rawTarget : f.rawTarget.slice(0, q);
  const rv = decideRequest(state.policy, f.host, f.port, f.method, path);
  if (rv === undefined) return { kind: 'allow', target: f.rawTarget, path, rule: undefined };
  if (!rv.allowed) return refusal(rv.rule, rv.why);
  return { kind: 'allow', target: f.rawTarget, path, rule: rv.rule };
}
