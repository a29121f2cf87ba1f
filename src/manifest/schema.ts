import { z } from 'zod';
import { EGRESS_MODES, INPUT_COUNTS, LLM_MODES } from '../egress/config.js';
import { PROVIDER_NAMES, type ProviderName } from '../providers/registry.js';
import { ENTITY_NAME_RE, ENV_NAME_RE, MAX_ENTITY_NAME_LENGTH } from './names.js';
import { sentinelProblem } from './sentinel.js';

/**
 * Schemas of what users write. Every object is strict: an unknown key is an
 * error (with a "did you mean"), never silently ignored, because a
 * misspelled `egres:` would otherwise drop an allowlist on the floor.
 */

/** The agent CLIs: the keys of the provider registry (src/providers/registry.ts). */
export const PROVIDERS = PROVIDER_NAMES;
export type { ProviderName };
export const RUNTIMES = ['runc', 'runsc'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
export const CUTOFF_POLICIES = ['cutoff', 'freeze', 'kill'] as const;
export type CutoffPolicy = (typeof CUTOFF_POLICIES)[number];
/** The stretch of time a configured budget counts usage over (UTC calendar periods). */
export const BUDGET_PERIODS = ['day', 'week', 'month', 'all'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export const entityName = z
  .string()
  .max(MAX_ENTITY_NAME_LENGTH, `must be at most ${MAX_ENTITY_NAME_LENGTH} characters`)
  .regex(ENTITY_NAME_RE, 'must match [a-z][a-z0-9-]* (lowercase letters, digits, dashes)');

/** No control characters: these values end up in generated config files. */
const singleLine = z
  .string()
  .min(1, 'must not be empty')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\x00-\x1f\x7f]*$/, 'must be a single line without control characters');

const sshToken = z
  .string()
  .min(1, 'must not be empty')
  .regex(/^[A-Za-z0-9._@%*?:[\]-]+$/, 'must not contain spaces, quotes or control characters');

const HOST_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
export const HOST_PATTERN_RE = new RegExp(
  `^(?:\\*\\.)?(?:${HOST_LABEL}\\.)*${HOST_LABEL}(?::(\\d{1,5}))?$`,
  'i',
);
export const EXACT_HOST_RE = new RegExp(
  `^(?:${HOST_LABEL}\\.)*${HOST_LABEL}(?::(\\d{1,5}))?$`,
  'i',
);

function validPort(s: string): boolean {
  const m = /:(\d+)$/.exec(s);
  if (m === null) return true;
  const p = Number(m[1]);
  return p >= 1 && p <= 65535;
}

export const hostPattern = z
  .string()
  .regex(
    HOST_PATTERN_RE,
    'must be a host name, optionally *.domain and/or :port (e.g. api.example.com, *.github.com, example.com:8443)',
  )
  .refine(validPort, 'port must be between 1 and 65535')
  .transform((s) => s.toLowerCase());

export const exactHost = z
  .string()
  .regex(
    EXACT_HOST_RE,
    'must be one exact host name, optionally with :port (wildcards are not allowed for credential routes)',
  )
  .refine(validPort, 'port must be between 1 and 65535')
  .transform((s) => s.toLowerCase());

/**
 * A raw env/secret value: a literal, `?`, `env:NAME`, `file:PATH` or
 * `cmd:COMMAND`. Its syntax is checked at load, so a broken value fails in
 * every command, not only when its bottle is launched.
 */
export const sentinelValue = z.string().superRefine((v, ctx) => {
  const problem = sentinelProblem(v);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

export const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name');
export const headerPrefix = z.string().regex(/^[\x20-\x7e]*$/, 'must be printable ASCII');
/** HTTP Basic: the header value is prefix + base64(basicUser:secret), as git over HTTPS wants. */
export const basicUserName = z
  .string()
  .regex(/^[\x21-\x39\x3b-\x7e]+$/, 'must be printable ASCII without spaces or colons');

export const headerValue = z.union([
  sentinelValue,
  z.strictObject({
    secret: sentinelValue,
    prefix: headerPrefix.optional(),
    basicUser: basicUserName.optional(),
  }),
]);
export type HeaderValueInput = z.infer<typeof headerValue>;

export const route = z.strictObject({
  host: exactHost,
  headers: z
    .record(headerName, headerValue)
    .refine((h) => Object.keys(h).length > 0, 'a route needs at least one header'),
});

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Where the egress proxy sends a host instead of asking DNS: an IPv4
 * address, `host-gateway` (the docker host, e.g. a model server on the
 * operator's machine) or another host name (a corporate gateway),
 * optionally with `:port`. The TLS name checked stays the original host.
 */
export const hostAddress = z.string().refine((s) => {
  const m = /^(.+?)(?::(\d{1,5}))?$/.exec(s);
  const addr = m?.[1] ?? '';
  const port = m?.[2] === undefined ? 1 : Number(m[2]);
  return (
    port >= 1 &&
    port <= 65535 &&
    (addr === 'host-gateway' || IPV4_RE.test(addr) || EXACT_HOST_RE.test(addr))
  );
}, 'must be an IPv4 address, host-gateway or a host name, optionally with :port');

const httpMethod = z
  .string()
  .regex(/^[A-Za-z]+$/, 'must be an HTTP method such as GET')
  .transform((s) => s.toUpperCase());

/** Narrows an allowed host to some methods and/or path prefixes. */
export const requestRule = z.strictObject({
  host: hostPattern,
  methods: z.array(httpMethod).min(1).optional(),
  paths: z
    .array(z.string().regex(/^\/[\x21-\x7e]*$/, 'must be a path starting with /'))
    .min(1)
    .optional(),
});

export const egress = z.strictObject({
  allow: z.array(hostPattern).optional(),
  deny: z.array(hostPattern).optional(),
  /** Allowed hosts tunnelled without TLS interception (certificate-pinning clients). */
  passthrough: z.array(hostPattern).optional(),
  rules: z.array(requestRule).optional(),
  /** `enforce` blocks what the secret scanner finds; `audit` only logs it. */
  mode: z.enum(EGRESS_MODES).optional(),
  /** Secrets in requests to the LLM API: `redact` (default) them, `refuse` the call, or `audit`. */
  llm: z.enum(LLM_MODES).optional(),
  routes: z.array(route).optional(),
  hosts: z
    .record(
      z
        .string()
        .regex(EXACT_HOST_RE, 'must be one exact host name')
        .refine((s) => !s.includes(':'), 'must not have a port'),
      hostAddress,
    )
    .optional(),
});

/** An https origin, optionally with a path prefix; no query, no credentials. */
export const apiBaseUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (
      u.protocol === 'https:' &&
      u.username === '' &&
      u.password === '' &&
      u.search === '' &&
      u.hash === ''
    );
  } catch {
    return false;
  }
}, 'must be an https:// URL without credentials, query or fragment');

/**
 * Which API endpoint the agent CLIs talk to, by wire format. Unset: the
 * vendor's public API. Codex and pi ignore the base-URL environment
 * variables, so bot-bottle writes these into each CLI's own config.
 */
export const apiEndpoints = z.strictObject({
  anthropic: apiBaseUrl.optional(),
  openai: apiBaseUrl.optional(),
});

export const sshEntry = z.strictObject({
  Host: sshToken,
  IdentityFile: singleLine,
  Hostname: sshToken.optional(),
  User: sshToken.optional(),
  Port: z.number().int().min(1).max(65535).optional(),
  KnownHostKey: singleLine
    .regex(
      /^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$/,
      'must be "<key-type> <base64-key>", as in a known_hosts line without the host',
    )
    .optional(),
});

export const gitIdentity = z.strictObject({
  name: singleLine.optional(),
  email: singleLine.regex(/^[^\s<>@]+@[^\s<>@]+$/, 'must be an email address').optional(),
});

const aptPackage = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$/,
    'must be a Debian package name (optionally name=version)',
  );

const dockerfileLine = z
  .string()
  .min(1, 'must not be empty')
  .refine(
    (s) => !/^\s*FROM\b/i.test(s),
    'FROM is not allowed: the base image is set by image.base in settings.yml',
  );

export const imageAdditions = z.strictObject({
  apt: z.array(aptPackage).optional(),
  dockerfile: z.array(dockerfileLine).optional(),
});

export const tokenCount = z
  .number()
  .int('must be a whole number of tokens')
  .positive('must be greater than 0');

export const budgetByProvider = z.partialRecord(z.enum(PROVIDERS), tokenCount);

const tokensPerMinute = tokenCount.describe('tokens (input + output) per minute');
const providerKeys = Object.fromEntries(PROVIDERS.map((p) => [p, tokenCount.optional()])) as Record<
  ProviderName,
  z.ZodOptional<typeof tokenCount>
>;

/**
 * Where admission's input tokens come from: `estimate` (local, the default)
 * or `provider` (the provider's count endpoint, one more round trip per call).
 */
const inputCount = z.enum(INPUT_COUNTS);

/**
 * A bottle's budget: tokens per provider; `rate`, the tokens per minute a
 * launch that includes the bottle may spend; `count`, where each call's
 * input tokens come from at admission.
 */
export const bottleBudget = z.strictObject({
  ...providerKeys,
  rate: tokensPerMinute.optional(),
  count: inputCount.optional(),
});
export type BottleBudget = z.infer<typeof bottleBudget>;

/**
 * The host's budget: tokens per provider; `rate`, tokens per minute per
 * provider over every launch in the store; `cap` (default true) lowers each
 * call's output cap to what the budget has left; `floor`, the least output
 * cap a call is admitted with; `count`, where each call's input tokens come
 * from at admission (a bottle's own `budget.count` wins).
 */
export const settingsBudget = z.strictObject({
  ...providerKeys,
  rate: z.strictObject(providerKeys).optional(),
  cap: z.boolean().optional(),
  count: inputCount.optional(),
  floor: z
    .number()
    .int('must be a whole number of tokens')
    .min(1, 'must be at least 1')
    .max(1_000_000, 'must be at most 1000000')
    .optional(),
});

export const bottleSchema = z.strictObject({
  extends: entityName.optional(),
  env: z
    .record(z.string().regex(ENV_NAME_RE, 'must be an environment variable name'), sentinelValue)
    .optional(),
  ssh: z.array(sshEntry).optional(),
  git: gitIdentity.optional(),
  egress: egress.optional(),
  runtime: z.enum(RUNTIMES).optional(),
  image: imageAdditions.optional(),
  budget: bottleBudget.optional(),
  cutoff: z.enum(CUTOFF_POLICIES).optional(),
  api: apiEndpoints.optional(),
});
export type BottleSpec = z.infer<typeof bottleSchema>;

const agentFields = {
  provider: z.enum(PROVIDERS),
  bottle: entityName.optional(),
  skills: z.array(entityName).optional(),
  model: z
    .string()
    .regex(/^[A-Za-z0-9._:/@[\]-]+$/, 'must be a model name without spaces')
    .optional(),
  budget: tokenCount.optional(),
};

export const agentSchema = z.strictObject(agentFields);
export type AgentSpec = z.infer<typeof agentSchema>;

/** In bot-bottle.json the prompt is a field instead of a Markdown body. */
export const jsonAgentSchema = z.strictObject({ ...agentFields, prompt: z.string().optional() });

export const jsonManifestSchema = z.strictObject({
  $schema: z.string().optional(),
  bottles: z.record(z.string(), z.unknown()).optional(),
  agents: z.record(z.string(), z.unknown()).optional(),
});
