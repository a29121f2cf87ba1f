import { Option } from '@commander-js/extra-typings';
import type { Check } from '../backend/backend.js';
import { BotBottleError, ExitCode } from '../errors.js';
import { displayPath, loadConfig } from '../manifest/load.js';
import { inspectCaFile } from '../settings/ca.js';
import { loadSettings, type Settings } from '../settings/settings.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';
import { backendName, services } from './services.js';
import { BACKENDS } from '../plan/schema.js';
import { chooseLedger } from '../ledger/open.js';
import { PostgresLedger } from '../ledger/postgres.js';
import { existsSync, statSync } from 'node:fs';
import { urlSecrets } from '../ledger/url.js';

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The engine's own checks, with the base image the settings name. */
async function engineChecks(
  ctx: CliContext,
  backend: string | undefined,
  settings: Settings | undefined,
): Promise<Check[]> {
  const baseImage =
    settings === undefined
      ? undefined
      : {
          ref: settings.baseImage.ref,
          from:
            settings.baseImage.source === 'env'
              ? 'BOT_BOTTLE_BASE_IMAGE'
              : settings.baseImage.source === 'settings'
                ? 'settings.yml image.base'
                : 'default',
        };
  const engine = services(ctx).backend(backendName(ctx, backend));
  return engine.doctorChecks(baseImage === undefined ? {} : { baseImage });
}

function caChecks(settings: Settings, ctx: CliContext): Check[] {
  const checks: Check[] = [];
  for (const ca of settings.extraCaFiles) {
    const r = inspectCaFile(ca.path);
    const where = ca.source === 'env' ? 'BOT_BOTTLE_EXTRA_CA_CERTS' : 'settings.yml ca.extra';
    checks.push(
      r.ok
        ? {
            id: 'extra-ca',
            title: 'extra CA certs',
            status: r.expired === r.certificates ? 'warn' : 'ok',
            summary: `${ca.path}: ${r.certificates} certificate(s), earliest expiry ${r.earliestExpiry ?? '?'}${r.expired > 0 ? `, ${r.expired} expired` : ''}`,
            fix:
              r.expired === r.certificates
                ? 'every certificate in the bundle has expired; replace it'
                : undefined,
          }
        : {
            id: 'extra-ca',
            title: 'extra CA certs',
            status: 'fail',
            summary: `${ca.path} (${where}) ${r.problem ?? 'is unusable'}`,
            fix: `fix or remove it in ${where}`,
          },
    );
  }
  const nodeExtra = ctx.env.NODE_EXTRA_CA_CERTS;
  if (checks.length === 0) {
    const hint = nodeExtra
      ? {
          status: 'warn' as const,
          summary: `none configured, but this host trusts ${nodeExtra} (NODE_EXTRA_CA_CERTS); image builds and upstream TLS behind a TLS-inspecting proxy will fail without it`,
          fix: `add it to ca.extra in ${settings.file}, or export BOT_BOTTLE_EXTRA_CA_CERTS=${nodeExtra}`,
        }
      : { status: 'ok' as const, summary: 'none configured (the system trust store is used)' };
    checks.push({ id: 'extra-ca', title: 'extra CA certs', ...hint });
  }
  return checks;
}

/** Which ledger store is in use and, for Postgres, whether it answers (it is not migrated here). */
async function ledgerCheck(settings: Settings, ctx: CliContext): Promise<Check> {
  const choice = chooseLedger(ctx.env, settings);
  const base = { id: 'ledger', title: 'ledger' } as const;
  if (choice.store === 'sqlite') {
    return {
      ...base,
      status: 'ok',
      summary: `SQLite ${choice.path}${existsSync(choice.path) ? '' : ' (made on first use)'}`,
    };
  }
  const where = `Postgres ${choice.shown} (${choice.from})`;
  const store = new PostgresLedger(choice.url);
  try {
    const { schemaVersion, latest } = await store.probe();
    if (schemaVersion > latest) {
      return {
        ...base,
        status: 'warn',
        summary: `${where} answers; its schema (version ${schemaVersion}) is newer than this bot-bottle knows (${latest})`,
        fix: 'upgrade bot-bottle on this host to the version the other hosts run',
      };
    }
    return {
      ...base,
      status: 'ok',
      summary: `${where} answers, schema version ${schemaVersion}${schemaVersion < latest ? ` (migrated to ${latest} on first use)` : ''}`,
    };
  } catch (e) {
    return {
      ...base,
      status: 'fail',
      summary: `${where}: ${errorText(e)}`,
      fix:
        e instanceof BotBottleError && e.hint !== undefined
          ? e.hint
          : `check the server and the URL in ${choice.from}`,
    };
  } finally {
    await store.close();
  }
}

/** A ledger password in a settings file other users can read. */
function ledgerPasswordCheck(settings: Settings): Check[] {
  const u = settings.ledgerUrl;
  if (u?.source !== 'settings' || urlSecrets(u.url).length === 0) return [];
  const mode = statSync(settings.file, { throwIfNoEntry: false })?.mode ?? 0;
  if ((mode & 0o077) === 0) return [];
  return [
    {
      id: 'ledger-password',
      title: 'ledger password',
      status: 'warn',
      summary: `${settings.file} holds the ledger's Postgres password and other users can read it`,
      fix: `chmod 600 ${settings.file}, or set the URL in BOT_BOTTLE_LEDGER_URL instead`,
    },
  ];
}

function define(program: Program) {
  return program
    .command('doctor')
    .description(
      'check the container engine (docker or podman), runtimes, base image, extra CA certificates, the ledger store and configuration',
    )
    .addOption(
      new Option('--backend <name>', 'container backend to check')
        .choices(BACKENDS)
        .env('BOT_BOTTLE_BACKEND'),
    )
    .option('--json', 'print the checks as JSON');
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (opts) => exit(await runDoctor(ctx, opts)));
}

async function runDoctor(ctx: CliContext, opts: OptionsOf<typeof define>): Promise<number> {
  const checks: Check[] = [];
  let settings: Settings | undefined;
  try {
    settings = loadSettings({ cwd: ctx.cwd, env: ctx.env });
    checks.push({
      id: 'settings',
      title: 'settings',
      status: 'ok',
      summary: settings.exists
        ? displayPath(settings.file, ctx.cwd)
        : `${settings.file} not present (defaults apply)`,
    });
  } catch (e) {
    checks.push({
      id: 'settings',
      title: 'settings',
      status: 'fail',
      summary: errorText(e),
      fix: 'fix the file as the message says',
    });
  }
  try {
    const index = loadConfig({ cwd: ctx.cwd, env: ctx.env });
    checks.push({
      id: 'config',
      title: 'configuration',
      status: index.agents.size > 0 ? 'ok' : 'warn',
      summary: `${index.agents.size} agent(s), ${index.bottles.size} bottle(s), ${index.skills.size} skill(s)${index.repoRoot ? ` (repo ${index.repoRoot})` : ' (no repository config found)'}`,
      fix:
        index.agents.size > 0
          ? undefined
          : 'run `bot-bottle init` to write an example .bot-bottle/',
    });
  } catch (e) {
    checks.push({
      id: 'config',
      title: 'configuration',
      status: 'fail',
      summary: errorText(e),
      fix: e instanceof BotBottleError && e.hint ? e.hint : 'fix the file as the message says',
    });
  }
  checks.push(...(await engineChecks(ctx, opts.backend, settings)));
  if (settings !== undefined) {
    checks.push(...caChecks(settings, ctx));
    checks.push(await ledgerCheck(settings, ctx), ...ledgerPasswordCheck(settings));
  }

  const failures = checks.filter((c) => c.status === 'fail').length;
  const warnings = checks.filter((c) => c.status === 'warn').length;
  if (opts.json === true) {
    printJson(ctx.io, { outcome: failures > 0 ? 'problems' : 'ok', failures, warnings, checks });
  } else {
    for (const c of checks) {
      const mark = c.status === 'ok' ? 'ok  ' : c.status === 'warn' ? 'warn' : 'FAIL';
      ctx.io.out(`  ${mark}  ${c.title.padEnd(15)} ${c.summary}`);
      if (c.fix !== undefined && c.status !== 'ok')
        ctx.io.out(`        ${''.padEnd(15)} fix: ${c.fix}`);
    }
    ctx.io.out(
      failures === 0
        ? `\nready${warnings > 0 ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}`
        : `\n${failures} problem${failures > 1 ? 's' : ''} to fix before bottles can start`,
    );
  }
  return failures > 0 ? ExitCode.environment : ExitCode.ok;
}
