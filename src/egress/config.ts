import { z } from 'zod';

/**
 * What the controller hands the egress sidecar. The policy is not secret:
 * `bot-bottle egress show` prints it and live updates replace it. The
 * secrets (CA key, credential values) travel separately, are written only
 * to the sidecar's tmpfs and are never printed.
 */

export const EGRESS_MODES = ['enforce', 'audit'] as const;
export type EgressMode = (typeof EGRESS_MODES)[number];

/**
 * What the scanner's findings do in requests to the bottle's own LLM API
 * (its metered calls): `redact` replaces them by typed markers and sends
 * the call on, `refuse` refuses the call, `audit` forwards it unchanged and
 * logs. Other hosts follow `mode`.
 */
export const LLM_MODES = ['redact', 'refuse', 'audit'] as const;
export type LlmMode = (typeof LLM_MODES)[number];

/**
 * Where a metered call's input tokens come from at admission: `estimate`
 * (the local estimate) or `provider` (the provider's count endpoint, the
 * local estimate when it fails or the API has none).
 */
export const INPUT_COUNTS = ['estimate', 'provider'] as const;
export type InputCount = (typeof INPUT_COUNTS)[number];

const pattern = z.string().min(1);

export const requestRuleSchema = z.object({
  host: pattern,
  /** Upper-case HTTP methods; absent: any method. */
  methods: z.array(z.string().regex(/^[A-Z]+$/)).optional(),
  /** Path prefixes; absent: any path. */
  paths: z.array(z.string().startsWith('/')).optional(),
});
export type RequestRule = z.infer<typeof requestRuleSchema>;

export const routeHeaderSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/),
  /** Key into the secrets' `values`. */
  secret: z.string().min(1),
});

export const routeSchema = z.object({
  host: pattern,
  headers: z.array(routeHeaderSchema).min(1),
});
export type Route = z.infer<typeof routeSchema>;

export const policySchema = z.object({
  slug: z.string().min(1),
  revision: z.number().int().nonnegative(),
  mode: z.enum(EGRESS_MODES),
  /** Absent in a policy from an older controller: the default. */
  llm: z.enum(LLM_MODES).default('redact'),
  /** Absent: the local estimate. */
  count: z.enum(INPUT_COUNTS).optional(),
  allow: z.array(pattern),
  deny: z.array(pattern),
  /** Allowed hosts tunnelled without interception (no rules, routes or scanning beyond the host). */
  passthrough: z.array(pattern),
  rules: z.array(requestRuleSchema),
  routes: z.array(routeSchema),
  /** host -> address[:port]; the operator's word, so not subject to the private-address check. */
  hosts: z.record(z.string(), z.string()),
});
export type EgressPolicyConfig = z.infer<typeof policySchema>;

export const secretsSchema = z.object({
  caCertPem: z.string().includes('BEGIN CERTIFICATE'),
  caKeyPem: z.string().includes('PRIVATE KEY'),
  /** Extra PEM certificates trusted for upstream TLS, next to the system store. */
  upstreamCaPem: z.string(),
  values: z.record(z.string(), z.string()),
});
export type EgressSecrets = z.infer<typeof secretsSchema>;

/** What `ctl configure` reads on stdin at launch. */
export const configureSchema = z.object({ policy: policySchema, secrets: secretsSchema });
export type ConfigurePayload = z.infer<typeof configureSchema>;

/** What `ctl set-policy` reads: a whole new policy, and credential values it adds. */
export const updateSchema = z.object({
  policy: policySchema,
  values: z.record(z.string(), z.string()).optional(),
});
export type PolicyUpdate = z.infer<typeof updateSchema>;

export function emptyPolicy(slug: string): EgressPolicyConfig {
  return {
    slug,
    revision: 0,
    mode: 'enforce',
    llm: 'redact',
    allow: [],
    deny: [],
    passthrough: [],
    rules: [],
    routes: [],
    hosts: {},
  };
}

/** One-line summary of what a zod failure says, for the operator. */
export function describeIssues(e: z.ZodError): string {
  return e.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
    .join('; ');
}
