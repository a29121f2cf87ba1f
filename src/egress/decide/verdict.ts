import type { ShapedError } from '../admission.js';
import type { Finding } from '../dlp.js';
import type { ProxyState } from '../types.js';

/**
 * The proxy's decisions are pure functions `(state, facts) -> verdict`;
 * the transport gathers the facts, asks, and carries the verdict out. A
 * refusal is one shape everywhere, so whatever refuses (a rule, a finding,
 * an encoding, a budget) reaches the agent and the audit log the same way.
 */
export interface Refuse {
  kind: 'refuse';
  /** HTTP status of the refusal. */
  status: number;
  /** What decided, for the audit log and the refusal body. */
  rule: string;
  /** Why, in words the agent and its operator read. */
  why: string;
  findings?: readonly Finding[];
  /** The refusal in the called API's own error shape (metered calls), instead of text. */
  shaped?: ShapedError;
}

/**
 * What `enforce` refuses and `audit` lets through: the same text either
 * way, so the log says what would have been refused.
 */
export interface Flag {
  kind: 'flag';
  rule: string;
  why: string;
  findings?: readonly Finding[];
}

export function refusal(
  rule: string,
  why: string,
  status = 403,
  findings?: readonly Finding[],
): Refuse {
  return {
    kind: 'refuse',
    status,
    rule,
    why,
    ...(findings === undefined ? {} : { findings }),
  };
}

/**
 * Several flags on one request as one, so the log keeps every reason that
 * would have refused. The rules are joined with `sep`; the reasons with '; '.
 */
export function mergeFlags(flags: readonly Flag[], sep: string): Flag | undefined {
  if (flags.length === 0) return undefined;
  return {
    kind: 'flag',
    rule: flags.map((x) => x.rule).join(sep),
    why: flags.map((x) => x.why).join('; '),
    findings: flags.flatMap((x) => x.findings ?? []),
  };
}

export function isRefusal(v: { kind: string }): v is Refuse {
  return v.kind === 'refuse';
}

/** Scanner outcomes: refused in `enforce`, flagged (forwarded and logged) in `audit`. */
export function byMode(
  state: ProxyState,
  rule: string,
  why: string,
  status: number,
  findings?: readonly Finding[],
): Refuse | Flag {
  if (state.policy.mode === 'audit') {
    return { kind: 'flag', rule, why, ...(findings === undefined ? {} : { findings }) };
  }
  return refusal(rule, why, status, findings);
}

/** The rule name of a refusal made because the proxy could not decide. */
export const NO_POLICY = 'no-policy';
export const CHECK_FAILED = 'check-failed';

/**
 * Every question to the core goes through here, so a missing policy, a
 * state that cannot be read or a check that throws is a refusal naming the
 * check, never an exception in the transport and never a pass.
 */
export function decide<F, V extends { kind: string }>(
  check: string,
  state: () => ProxyState | undefined,
  facts: F,
  fn: (state: ProxyState, facts: F) => V | Refuse,
): V | Refuse {
  let s: ProxyState | undefined;
  try {
    s = state();
  } catch (e) {
    return refusal(NO_POLICY, `the proxy has no policy to decide by (${message(e)})`, 503);
  }
  if (s?.policy === undefined) {
    return refusal(NO_POLICY, 'the proxy has no policy to decide by', 503);
  }
  try {
    return fn(s, facts);
  } catch (e) {
    return refusal(
      `${CHECK_FAILED} ${check}`,
      `the ${check} check could not decide (${message(e)}), so the request is refused`,
      403,
    );
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
