import { UsageError } from '../errors.js';
import { displayPath, findRepoRoot } from '../manifest/load.js';
import { botBottleHome } from '../paths.js';
import {
  describeTrust,
  loadConfigWithTrust,
  realRoot,
  recordTrust,
  type TrustAssessment,
} from '../trust/assess.js';
import { formatActions, layerHostActions, type HostAction } from '../trust/entries.js';
import { removeTrustRecord } from '../trust/store.js';
import { inLayer } from '../trust/digest.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';

function define(program: Program) {
  return program
    .command('trust')
    .description(
      "let this repository's bot-bottle configuration act on the host (run cmd:, read file:/env:, route credentials)",
    )
    .option('--show', 'print whether it is trusted and every entry that acts on the host')
    .option('--revoke', 'stop trusting it')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
A repository layer (.bot-bottle/ and bot-bottle.json) is untrusted until you
run this in it. Untrusted, none of its entries that act on the host (cmd:,
file:, env:, ? values, credential routes, ssh keys, egress.hosts) is used:
an interactive start shows them and asks; --headless, -y and resume refuse.
Trust records a digest of every file of the layer under
~/.bot-bottle/trust/; any change (an edit, a pull, a merged agent branch)
makes it untrusted again. Your own layer (~/.bot-bottle) is always trusted.`,
    );
}

type TrustOptions = OptionsOf<typeof define>;

/** `bot-bottle trust [--show | --revoke]`. */
export function register(program: Program, ctx: CliContext): void {
  define(program).action((opts) => exit(runTrust(ctx, opts)));
}

function noLayer(ctx: CliContext): UsageError {
  return new UsageError(
    `no repository layer at or above ${ctx.cwd} (no .bot-bottle/ or bot-bottle.json)`,
    `your own layer (${botBottleHome(ctx.env)}) is always trusted`,
  );
}

function actionsJson(actions: readonly HostAction[], ctx: CliContext): object[] {
  return actions.map((a) => ({
    what: a.what,
    does: a.does,
    bottle: a.bottle,
    file: a.file === undefined ? null : displayPath(a.file, ctx.cwd),
  }));
}

function printActions(ctx: CliContext, actions: readonly HostAction[], lead: string): void {
  if (actions.length === 0) {
    ctx.io.out(`${lead}: nothing (only literal values; it needs no trust to launch)`);
    return;
  }
  ctx.io.out(`${lead}:`);
  for (const l of formatActions(actions)) ctx.io.out(l);
}

/** Files outside the layer that its commands name: hashed with it. */
function commandFiles(t: TrustAssessment): string[] {
  return t.entries.filter((e) => e.kind !== 'dir' && !inLayer(e.path)).map((e) => e.path);
}

function printCommandFiles(ctx: CliContext, t: TrustAssessment): void {
  const files = commandFiles(t);
  if (files.length > 0) {
    ctx.io.out(`files its commands name, covered by the trust too: ${files.join(', ')}`);
  }
}

function stateJson(t: TrustAssessment): object {
  return {
    commandFiles: commandFiles(t),
    repoRoot: t.repoRoot,
    state: t.state,
    digest: t.digest,
    trustedAt: t.trustedAt,
    problem: t.problem,
    changes: t.changes,
    files: t.entries.filter((e) => e.kind === 'file').length,
  };
}

function runRevoke(ctx: CliContext, opts: TrustOptions): number {
  const found = findRepoRoot(ctx.cwd, botBottleHome(ctx.env));
  if (found === undefined) throw noLayer(ctx);
  const root = realRoot(found);
  const revoked = removeTrustRecord(ctx.env, root);
  if (opts.json === true) printJson(ctx.io, { outcome: 'ok', repoRoot: root, revoked });
  else
    ctx.io.out(
      revoked
        ? `revoked: the repository layer at ${root} is no longer trusted`
        : `the repository layer at ${root} was not trusted; nothing to revoke`,
    );
  return 0;
}

function runShow(ctx: CliContext, opts: TrustOptions): number {
  const { index, trust } = loadConfigWithTrust({ cwd: ctx.cwd, env: ctx.env });
  const actions = layerHostActions(index);
  if (opts.json === true) {
    printJson(ctx.io, { ...stateJson(trust), actsOnHost: actionsJson(actions, ctx) });
    return 0;
  }
  if (trust.repoRoot === null) {
    ctx.io.out(`no repository layer here; your own layer (${index.home}) is always trusted`);
    return 0;
  }
  ctx.io.out(`repository layer ${trust.repoRoot}: ${describeTrust(trust)}`);
  if (trust.digest !== null) ctx.io.out(`digest ${trust.digest}`);
  printActions(ctx, actions, 'entries that act on this host (used only while trusted)');
  printCommandFiles(ctx, trust);
  if (trust.state !== 'trusted' && actions.length > 0) {
    ctx.io.out('review .bot-bottle/ and bot-bottle.json, then run `bot-bottle trust` to allow it');
  }
  return 0;
}

function runTrustLayer(ctx: CliContext, opts: TrustOptions): number {
  const { index, trust } = loadConfigWithTrust({ cwd: ctx.cwd, env: ctx.env });
  if (trust.repoRoot === null) throw noLayer(ctx);
  const actions = layerHostActions(index);
  const already = trust.state === 'trusted';
  const { path, record } = already ? { path: null, record: null } : recordTrust(ctx.env, trust);
  if (opts.json === true) {
    printJson(ctx.io, {
      outcome: 'ok',
      ...stateJson({ ...trust, state: 'trusted', trustedAt: record?.trustedAt ?? trust.trustedAt }),
      alreadyTrusted: already,
      record: path,
      actsOnHost: actionsJson(actions, ctx),
    });
    return 0;
  }
  ctx.io.out(
    already
      ? `the repository layer at ${trust.repoRoot} is already trusted as it is (since ${trust.trustedAt ?? '?'})`
      : `trusted the repository layer at ${trust.repoRoot} (${trust.entries.filter((e) => e.kind === 'file').length} files, ${trust.digest ?? ''})`,
  );
  printActions(ctx, actions, 'it may now act on this host');
  printCommandFiles(ctx, trust);
  ctx.io.out(
    'any change to .bot-bottle/ or bot-bottle.json (a pull, a merged branch) needs trust again',
  );
  return 0;
}

function runTrust(ctx: CliContext, opts: TrustOptions): number {
  if (opts.show === true && opts.revoke === true) {
    throw new UsageError('trust: --show and --revoke exclude each other');
  }
  if (opts.revoke === true) return runRevoke(ctx, opts);
  if (opts.show === true) return runShow(ctx, opts);
  return runTrustLayer(ctx, opts);
}
