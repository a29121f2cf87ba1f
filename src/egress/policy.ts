import type { EgressPolicyConfig } from './config.js';
import { firstMatch, hostMatches } from './host-match.js';

/** The MCP tool an agent calls to ask the operator for egress access. */
export const ASK_TOOL = 'egress-block';

export type Verdict =
  | { allowed: true; rule: string; passthrough: boolean }
  | { allowed: false; rule: string; why: string };

/**
 * Host-level decision: deny wins over allow, and no match is a refusal.
 * `rule` names what decided, for the refusal body and the audit log.
 */
export function decideHost(policy: EgressPolicyConfig, host: string, port: number): Verdict {
  const denied = firstMatch(policy.deny, host, port);
  if (denied !== undefined) {
    return { allowed: false, rule: `deny ${denied}`, why: `blocked by the deny rule '${denied}'` };
  }
  const allowed = firstMatch(policy.allow, host, port);
  if (allowed === undefined) {
    return {
      allowed: false,
      rule: 'no-allow-match',
      why: "not in this bottle's egress allowlist",
    };
  }
  return {
    allowed: true,
    rule: `allow ${allowed}`,
    passthrough: firstMatch(policy.passthrough, host, port) !== undefined,
  };
}

/**
 * Method/path rules narrow an allowed host: when rules exist for a host, a
 * request must match one of them. Hosts without rules are unrestricted.
 */
export function decideRequest(
  policy: EgressPolicyConfig,
  host: string,
  port: number,
  method: string,
  path: string,
): Verdict | undefined {
  const rules = policy.rules.filter((r) => hostMatches(r.host, host, port));
  if (rules.length === 0) return undefined;
  const hit = rules.find(
    (r) =>
      (r.methods === undefined || r.methods.includes(method.toUpperCase())) &&
      (r.paths === undefined || r.paths.some((p) => path.startsWith(p))),
  );
  if (hit !== undefined) {
    return { allowed: true, rule: `rule ${describeRule(hit)}`, passthrough: false };
  }
  return {
    allowed: false,
    rule: `rules ${rules.map(describeRule).join(' | ')}`,
    why: `${method} ${path} matches none of the method/path rules for this host`,
  };
}

function describeRule(r: EgressPolicyConfig['rules'][number]): string {
  return `${r.host} ${r.methods?.join(',') ?? '*'} ${r.paths?.join(',') ?? '/'}`;
}

/**
 * The body of every refusal: what was refused, which rule decided, and how
 * the agent (or its operator) asks for access. Agents read this text, so it
 * says plainly what to do next.
 */
export function refusalText(slug: string, target: string, rule: string, why: string): string {
  return (
    `bot-bottle egress proxy (bottle ${slug}): refused ${target}: ${why}.\n` +
    `rule: ${rule}\n` +
    `To ask for access, call the supervise tool '${ASK_TOOL}' with the host and why you need it; ` +
    `the operator decides. (Operator: bot-bottle egress allow ${slug} <host>.)\n`
  );
}
