import { z } from 'zod';
import { INPUT_COUNTS, LLM_MODES } from '../egress/config.js';
import { BUDGET_PERIODS, CUTOFF_POLICIES, PROVIDERS, RUNTIMES } from '../manifest/schema.js';

/**
 * The shape of a BottlePlan as printed by `start --dry-run --json`. This is
 * a public contract: scripts read it, and `schema/bottle-plan.schema.json`
 * is generated from it (`npm run schema`). It never holds a secret value,
 * only where each value will come from.
 */

/** Container engines, and `kubernetes` (objects rendered and applied with kubectl; docs/kubernetes.md). */
export const BACKENDS = ['docker', 'podman', 'kubernetes'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const ANSI_COLORS = [
  'black',
  'red',
  'green',
  'yellow',
  'blue',
  'magenta',
  'cyan',
  'white',
  'bright-black',
  'bright-red',
  'bright-green',
  'bright-yellow',
  'bright-blue',
  'bright-magenta',
  'bright-cyan',
  'bright-white',
] as const;

export const valueSourceSchema = z
  .discriminatedUnion('kind', [
    z
      .object({ kind: z.literal('literal') })
      .describe('written in the config; the value is never printed'),
    z.object({ kind: z.literal('prompt') }).describe('asked at launch with hidden input'),
    z
      .object({ kind: z.literal('env'), name: z.string() })
      .describe('read from the host environment'),
    z.object({ kind: z.literal('file'), path: z.string() }).describe('read from a host file'),
    z
      .object({ kind: z.literal('cmd'), command: z.string(), argv: z.array(z.string()) })
      .describe('stdout of a host command, run without a shell'),
  ])
  .describe('Where a value comes from at launch.');

/**
 * Which configuration layer an entry comes from. Only `repo` entries can need
 * trust: the home layer is the user's own, and `operator` entries are the
 * operator's answers (supervise, egress route) while a bottle ran.
 */
export const ENTRY_LAYERS = ['home', 'repo', 'operator'] as const;
export type EntryLayer = (typeof ENTRY_LAYERS)[number];

/**
 * Marks on an entry that can act on the host. Defaults serve records written
 * before these fields existed: an entry of unknown layer counts as the
 * repository's (fail closed).
 */
const trustMarks = {
  layer: z
    .enum(ENTRY_LAYERS)
    .default('repo')
    .describe('the configuration layer the entry comes from'),
  from: z.string().nullable().default(null).describe('the bottle that declares it'),
  needsTrust: z
    .boolean()
    .default(false)
    .describe(
      'true: it acts on the host (runs a command, reads a file or variable, asks, routes a secret), comes from a repository layer that is not trusted as it is now, and is refused until `bot-bottle trust`',
    ),
};

export const TRUST_STATES = ['none', 'trusted', 'untrusted', 'changed'] as const;

const settingSource = z.enum([
  'launch',
  'agent',
  'bottle',
  'parent-bottle',
  'settings',
  'default',
  'env',
]);

export const bottlePlanSchema = z
  .object({
    schemaVersion: z.literal(1),
    agent: z.object({
      name: z.string(),
      provider: z.enum(PROVIDERS),
      model: z.string().nullable(),
      file: z.string(),
      prompt: z.object({
        chars: z.number().int().describe('length of the prompt (the agent file body)'),
        guestPath: z.string(),
      }),
      skills: z.array(z.object({ name: z.string(), source: z.string(), guestPath: z.string() })),
    }),
    bottles: z
      .array(
        z.object({
          name: z.string(),
          chain: z
            .array(z.object({ name: z.string(), file: z.string() }))
            .describe('the extends chain, root first'),
        }),
      )
      .describe('bottles composed for this launch, in merge order (later wins)'),
    label: z.string(),
    slug: z.string().describe('unique kebab-case name of the running bottle'),
    color: z.enum(ANSI_COLORS).nullable(),
    backend: z.enum(BACKENDS),
    runtime: z.object({
      name: z.enum(RUNTIMES),
      source: settingSource,
      from: z.string().nullable(),
    }),
    image: z.object({
      base: z.string(),
      baseSource: z.enum(['default', 'settings', 'env']),
      provider: z.object({ npmPackage: z.string(), npmVersion: z.string() }),
      apt: z.array(z.string()),
      dockerfile: z.array(z.string()),
    }),
    api: z
      .object({
        wire: z.enum(['anthropic', 'openai']),
        baseUrl: z.string(),
        source: z.enum(['bottle', 'default']),
      })
      .describe("the LLM API the agent CLI talks to, written into the CLI's own config"),
    egress: z.object({
      hosts: z
        .array(z.object({ name: z.string(), address: z.string(), ...trustMarks }))
        .describe(
          'names the egress proxy resolves without DNS (exempt from the private-address checks)',
        ),
      allow: z.array(z.string()),
      deny: z.array(z.string()),
      passthrough: z
        .array(z.string())
        .describe('allowed hosts tunnelled without TLS interception (host-level rules only)'),
      rules: z
        .array(
          z.object({
            host: z.string(),
            methods: z.array(z.string()).nullable(),
            paths: z.array(z.string()).nullable(),
          }),
        )
        .describe('method/path rules; a host with rules admits only requests matching one'),
      mode: z
        .enum(['enforce', 'audit'])
        .describe(
          'enforce: the secret scanner blocks; audit: it only logs (hosts other than the LLM API)',
        ),
      llm: z
        .enum(LLM_MODES)
        .describe(
          "secrets in requests to the agent's LLM API: redact (typed markers, the call goes on), refuse, or audit",
        ),
      routes: z.array(
        z.object({
          host: z.string(),
          headers: z.array(
            z.object({
              name: z.string(),
              prefix: z.string().nullable(),
              basicUser: z
                .string()
                .nullable()
                .describe('HTTP Basic: value = prefix + base64(basicUser:secret)'),
              source: valueSourceSchema,
              ...trustMarks,
            }),
          ),
        }),
      ),
    }),
    env: z.array(z.object({ name: z.string(), source: valueSourceSchema, ...trustMarks })),
    ssh: z.array(
      z.object({
        host: z.string(),
        hostname: z.string().nullable(),
        user: z.string().nullable(),
        port: z.number().int().nullable(),
        identityFile: z.string(),
        knownHostKey: z.boolean().describe('whether a host key is pinned'),
        hostKey: z.string().nullable().describe('the pinned public host key (not a secret)'),
        ...trustMarks,
      }),
    ),
    git: z.object({ name: z.string().nullable(), email: z.string().nullable() }),
    mounts: z.array(
      z.object({
        kind: z.enum(['copy', 'bind']),
        source: z.string(),
        target: z.string(),
        readonly: z.boolean(),
        purpose: z.string(),
      }),
    ),
    budget: z.object({
      provider: z.enum(PROVIDERS),
      tokens: z.number().int().nullable().describe('null: no budget applies'),
      scope: z.enum(['launch', 'agent', 'bottle', 'parent-bottle', 'global', 'none']),
      from: z.string().nullable().describe('the entity or file that set it'),
      period: z
        .enum(['launch', ...BUDGET_PERIODS])
        .describe('what usage counts: this launch only, or the UTC day/week/month or all time'),
      rate: z
        .object({
          launch: z
            .number()
            .int()
            .nullable()
            .describe("tokens per minute for this launch (a bottle's budget.rate)"),
          launchFrom: z.string().nullable().describe('the bottle that set it'),
          global: z
            .number()
            .int()
            .nullable()
            .describe(
              "tokens per minute for the provider over every launch in the store (settings' budget.rate)",
            ),
        })
        .optional()
        .describe('absent: no rate limits (plans saved by older versions)'),
      capping: z
        .object({
          enabled: z.boolean().describe("lower each call's output cap to what the budget has left"),
          floor: z.number().int().describe('the least output cap a call is admitted with'),
        })
        .optional()
        .describe('absent: capping on with the default floor'),
      count: z
        .enum(INPUT_COUNTS)
        .optional()
        .describe(
          "where admission's input tokens come from: estimate (local) or provider (the count endpoint); absent: estimate",
        ),
    }),
    cutoff: z.object({
      policy: z.enum(CUTOFF_POLICIES),
      source: settingSource,
      from: z.string().nullable(),
    }),
    caCerts: z.array(z.object({ path: z.string(), source: z.enum(['settings', 'env']) })),
    warnings: z.array(z.string()),
    trust: z
      .object({
        repoRoot: z
          .string()
          .nullable()
          .describe('real path of the repository root (the key of its trust record)'),
        state: z
          .enum(TRUST_STATES)
          .describe(
            'none: no repository layer; trusted; untrusted: never trusted; changed: changed since it was trusted',
          ),
        digest: z.string().nullable().describe('digest of the repository layer as it is now'),
        problem: z.string().nullable().describe('why the layer cannot be trusted as it is'),
        changes: z
          .array(z.object({ path: z.string(), change: z.enum(['added', 'removed', 'modified']) }))
          .describe('what changed since the layer was trusted (state changed)'),
        needed: z.number().int().describe('how many entries need trust (needsTrust: true)'),
        approvedOnce: z
          .boolean()
          .describe(
            'the operator allowed the entries that need trust for this launch only (interactive start)',
          ),
      })
      .describe(
        "whether the repository layer may act on the host; `bot-bottle trust` records the layer's digest",
      ),
    sources: z.object({
      repoRoot: z.string().nullable(),
      home: z.string(),
      settings: z.object({ file: z.string(), exists: z.boolean() }),
      files: z.array(z.string()),
    }),
  })
  .describe('bot-bottle launch plan: everything a launch will do, with no secret values.');

export type BottlePlan = z.infer<typeof bottlePlanSchema>;
export type PlanValueSource = z.infer<typeof valueSourceSchema>;
