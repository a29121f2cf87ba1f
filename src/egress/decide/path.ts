import { hostMatches } from '../host-match.js';
import { decideRequest } from '../policy.js';
import type { ProxyState } from '../types.js';
import { refusal, type Refuse } from './verdict.js';

/** The request target as it goes upstream, and the rule that let it (absent: no rules). */
export interface PathAllow {
  kind: 'allow';
  /** Path and query to send upstream: the path normalised, the query as sent. */
  target: string;
  /** The normalised path alone, as rules saw it. */
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

/**
 * RFC 3986 section 5.2.4 (remove_dot_segments): `.` and `..` segments are
 * resolved, so `/repos/ok/../../admin` is `/admin` before any rule sees it
 * and upstream receives the same path the rules judged.
 */
export function removeDotSegments(path: string): string {
  let input = path;
  let output = '';
  const popSegment = (): void => {
    output = output.slice(0, Math.max(0, output.lastIndexOf('/')));
  };
  while (input !== '') {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      popSegment();
    } else if (input === '/..') {
      input = '/';
      popSegment();
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', input.startsWith('/') ? 1 : 0);
      const end = next < 0 ? input.length : next;
      output += input.slice(0, end);
      input = input.slice(end);
    }
  }
  return output;
}

/** Percent-encoded `.`, `/` and `\`: what servers decode into dot segments or separators. */
const ENCODED_SEPARATOR = /%(?:2e|2f|5c)/i;
const NAMES: Record<string, string> = { '2e': "'.'", '2f': "'/'", '5c': "'\\'" };
/** `..;x` and `.;x`: dot segments to servers that strip path parameters (Tomcat, Jetty). */
const DOT_WITH_PARAMS = /(?:^|\/)\.\.?;/;

function decodeOnce(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * On a host with method/path rules, anything in the path that a server may
 * turn into a separator or dot segment after the rules looked is refused,
 * at any depth of percent-encoding (`%2e`, `%252e`, `%25%32%65`).
 */
export function pathEncodingProblem(path: string): string | undefined {
  let cur = path;
  for (let depth = 0; depth < 6; depth++) {
    const how = depth === 0 ? 'an encoded' : 'a double-encoded';
    if (cur.includes('\\')) {
      return depth === 0
        ? "the path contains a backslash, which servers may read as '/'"
        : `the path contains ${how} backslash`;
    }
    const m = ENCODED_SEPARATOR.exec(cur);
    if (m !== null) {
      return `the path contains ${how} ${NAMES[m[0].slice(1).toLowerCase()] ?? m[0]} (${m[0]}), which servers may decode into a separator or dot segment after the rules were checked`;
    }
    if (DOT_WITH_PARAMS.test(cur)) {
      return "the path has a dot segment with parameters ('..;'), which servers may read as '..'";
    }
    const next = decodeOnce(cur);
    if (next === cur) return undefined;
    cur = next;
  }
  return 'the path is percent-encoded too deeply to judge';
}

/**
 * The path of every request is normalised; a host with method/path rules
 * also refuses encoded separators and dots, then its rules judge the
 * normalised path. The query goes on untouched.
 */
export function pathVerdict(state: ProxyState, f: PathFacts): PathAllow | Refuse {
  if (!f.rawTarget.startsWith('/') || /[^\u0021-\u00ff]/.test(f.rawTarget)) {
    // Absolute form inside a tunnel would let the upstream pick another virtual host than the checked one.
    return refusal(
      'request-target',
      'the request target must be a path starting with / (origin form), without spaces or control characters',
      400,
    );
  }
  const q = f.rawTarget.indexOf('?');
  const raw = q < 0 ? f.rawTarget : f.rawTarget.slice(0, q);
  const query = q < 0 ? '' : f.rawTarget.slice(q);
  const ruled = state.policy.rules.some((r) => hostMatches(r.host, f.host, f.port));
  if (ruled) {
    const problem = pathEncodingProblem(raw);
    if (problem !== undefined) return refusal('path-encoding', problem, 400);
  }
  const path = removeDotSegments(raw);
  const target = `${path}${query}`;
  const rv = decideRequest(state.policy, f.host, f.port, f.method, path);
  if (rv === undefined) return { kind: 'allow', target, path, rule: undefined };
  if (!rv.allowed) return refusal(rv.rule, rv.why);
  return { kind: 'allow', target, path, rule: rv.rule };
}
