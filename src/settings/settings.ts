import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseYaml } from '../manifest/frontmatter.js';
import { parseWith } from '../manifest/issues.js';
import { expandHome } from '../manifest/sentinel.js';
import {
  settingsBudget,
  BUDGET_PERIODS,
  CUTOFF_POLICIES,
  RUNTIMES,
  type CutoffPolicy,
  type RuntimeName,
} from '../manifest/schema.js';
import { displayPath, readConfigText } from '../manifest/load.js';
import { settingsPath } from '../paths.js';
import type { KeepRules } from '../controller/retention.js';
import { parseDuration } from '../util/duration.js';
import { ledgerUrlProblem } from '../ledger/url.js';

/** Public image used when nothing else is configured. */
export const DEFAULT_BASE_IMAGE = 'node:22-bookworm-slim';

/** A docker image reference: [registry[:port]/]path[:tag][@sha256:digest]. */
export const IMAGE_REF_RE =
  /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export const settingsSchema = z.strictObject({
  budget: settingsBudget.optional(),
  period: z.enum(BUDGET_PERIODS).optional(),
  cutoff: z.enum(CUTOFF_POLICIES).optional(),
  runtime: z.enum(RUNTIMES).optional(),
  image: z
    .strictObject({
      base: z
        .string()
        .regex(IMAGE_REF_RE, 'must be a docker image reference such as node:22-bookworm-slim')
        .optional(),
    })
    .optional(),
  ca: z
    .strictObject({
      extra: z.array(z.string().min(1, 'must not be empty')).optional(),
    })
    .optional(),
  /** A shared ledger for several hosts; without it each host keeps its own SQLite file. */
  ledger: z
    .strictObject({
      url: z.string().superRefine((v, ctx) => {
        const problem = ledgerUrlProblem(v);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    })
    .optional(),
  keep: z
    .strictObject({
      last: z
        .number()
        .int('must be a whole number')
        .min(1, 'must be at least 1 (start --rm keeps nothing)')
        .optional(),
      maxAge: z
        .string()
        .refine((v) => parseDuration(v) !== undefined, 'must be a span such as 12h, 7d or 2w')
        .optional(),
      frozen: z.enum(['keep', 'expire']).optional(),
    })
    .optional(),
});
export type SettingsSpec = z.infer<typeof settingsSchema>;

export type SettingSource = 'default' | 'settings' | 'env';

export interface Settings {
  file: string;
  exists: boolean;
  spec: SettingsSpec;
  baseImage: { ref: string; source: SettingSource };
  defaultCutoff: CutoffPolicy | undefined;
  defaultRuntime: RuntimeName | undefined;
  /** Absolute paths, settings first, then BOT_BOTTLE_EXTRA_CA_CERTS. */
  extraCaFiles: { path: string; source: 'settings' | 'env' }[];
  /** Which saved bottles stay after a session; undefined: all of them. */
  keep: KeepRules | undefined;
  /** The Postgres ledger's URL (BOT_BOTTLE_LEDGER_URL wins); undefined: the host's SQLite file. */
  ledgerUrl: { url: string; source: 'settings' | 'env' } | undefined;
}

export function loadSettings(opts: { cwd: string; env?: NodeJS.ProcessEnv }): Settings {
  const env = opts.env ?? process.env;
  const file = settingsPath(env);
  const shown = displayPath(file, opts.cwd);
  const loc = { file: shown, entity: 'settings' };
  // No settings file is normal (defaults apply); any other failure is not.
  const text = existsSync(file) ? readConfigText(file, loc) : undefined;
  const raw = text === undefined ? {} : (parseYaml(text, loc) ?? {});
  const spec = parseWith(settingsSchema, raw, loc);

  const envImage = env.BOT_BOTTLE_BASE_IMAGE;
  let baseImage: Settings['baseImage'];
  if (envImage !== undefined && envImage !== '') {
    if (!IMAGE_REF_RE.test(envImage)) {
      throw new ConfigError(
        { entity: 'environment', field: 'BOT_BOTTLE_BASE_IMAGE' },
        `must be a docker image reference, got ${JSON.stringify(envImage)}`,
      );
    }
    baseImage = { ref: envImage, source: 'env' };
  } else if (spec.image?.base !== undefined) {
    baseImage = { ref: spec.image.base, source: 'settings' };
  } else {
    baseImage = { ref: DEFAULT_BASE_IMAGE, source: 'default' };
  }

  const envLedger = env.BOT_BOTTLE_LEDGER_URL;
  let ledgerUrl: Settings['ledgerUrl'];
  if (envLedger !== undefined && envLedger !== '') {
    const problem = ledgerUrlProblem(envLedger);
    if (problem !== undefined) {
      // The message never repeats the value: it may hold a password.
      throw new ConfigError({ entity: 'environment', field: 'BOT_BOTTLE_LEDGER_URL' }, problem);
    }
    ledgerUrl = { url: envLedger, source: 'env' };
  } else if (spec.ledger !== undefined) {
    ledgerUrl = { url: spec.ledger.url, source: 'settings' };
  }

  const anchor = dirname(file);
  const abs = (p: string): string => {
    const e = expandHome(p);
    return isAbsolute(e) ? e : resolve(anchor, e);
  };
  const extraCaFiles: Settings['extraCaFiles'] = (spec.ca?.extra ?? []).map((p) => ({
    path: abs(p),
    source: 'settings',
  }));
  for (const p of (env.BOT_BOTTLE_EXTRA_CA_CERTS ?? '').split(':')) {
    if (p === '') continue;
    const path = resolve(expandHome(p));
    if (!extraCaFiles.some((c) => c.path === path)) extraCaFiles.push({ path, source: 'env' });
  }

  return {
    file,
    exists: text !== undefined,
    spec,
    baseImage,
    defaultCutoff: spec.cutoff,
    defaultRuntime: spec.runtime,
    extraCaFiles,
    ledgerUrl,
    keep:
      spec.keep === undefined
        ? undefined
        : {
            last: spec.keep.last,
            maxAgeMs: spec.keep.maxAge === undefined ? undefined : parseDuration(spec.keep.maxAge),
            frozen: spec.keep.frozen ?? 'keep',
          },
  };
}
