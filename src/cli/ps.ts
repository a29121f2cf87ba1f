import type { EngineImage } from '../backend/backend.js';
import { imagesByRef } from '../controller/keep.js';
import { listSaved } from '../controller/state.js';
import { formatBytes } from './saved.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive } from './find.js';
import { printJson, table } from './output.js';
import { services, backendName } from './services.js';

function define(program: Program) {
  return program
    .command('ps')
    .description('list running bottles (with --all: saved ones too)')
    .option('--all', 'also list saved (ended or frozen) bottles that resume can continue')
    .option('--json', 'print as JSON');
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (opts) => exit(await runPs(ctx, opts)));
}

async function runPs(ctx: CliContext, opts: OptionsOf<typeof define>): Promise<number> {
  const backend = services(ctx).backend(backendName(ctx));
  const active = (await backend.enumerateActive()).map((a) => ({
    slug: a.slug,
    label: a.label,
    agent: a.agent,
    provider: a.provider,
    bottles: a.bottles,
    started: a.startedAt,
    identity: a.identity,
    state: a.state === 'running' && !controllerAlive(a) ? 'orphaned' : a.state,
  }));
  const images = opts.all === true ? await imagesByRef(backend) : new Map<string, EngineImage>();
  const saved =
    opts.all === true
      ? listSaved(ctx.env)
          .filter((s) => s.reason !== 'running')
          .map((s) => ({
            identity: s.identity,
            agent: s.agent,
            provider: s.provider,
            bottles: s.bottles,
            state: s.reason,
            saved: s.savedAt,
            branch: s.branch,
            /** Bytes only its image holds (what `rm` frees); null when the image is gone. */
            size: images.get(s.image)?.uniqueSize ?? null,
          }))
      : undefined;
  if (opts.json === true) {
    printJson(ctx.io, saved === undefined ? active : { running: active, saved });
    return 0;
  }
  if (active.length === 0) ctx.io.out('no running bottles');
  else
    ctx.io.out(
      table([
        ['SLUG', 'AGENT', 'PROVIDER', 'BOTTLES', 'STARTED', 'STATE'],
        ...active.map((a) => [
          a.slug,
          a.agent,
          a.provider,
          a.bottles.join(','),
          a.started,
          a.state,
        ]),
      ]),
    );
  if (saved !== undefined) {
    ctx.io.out('');
    if (saved.length === 0) ctx.io.out('no saved bottles');
    else
      ctx.io.out(
        table([
          ['IDENTITY', 'AGENT', 'STATE', 'SAVED', 'SIZE', 'BRANCH'],
          ...saved.map((s) => [
            s.identity,
            s.agent,
            s.state,
            s.saved,
            s.size === null ? 'gone' : formatBytes(s.size),
            s.branch ?? '-',
          ]),
        ]),
      );
  }
  return 0;
}
