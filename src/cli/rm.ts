import { loadSaved, removeSavedState } from '../controller/state.js';
import { UsageError } from '../errors.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';
import { backendName, services } from './services.js';

function define(program: Program) {
  return program
    .command('rm')
    .description('forget a saved bottle: remove its image and record (its git branch stays)')
    .argument('<identity>', 'a saved bottle (see bot-bottle ps --all)')
    .option('--json', 'print the outcome as JSON');
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (identity, opts) => exit(await runRm(ctx, identity, opts)));
}

/** Forget a saved bottle: its image and its record. The git branch stays. */
async function runRm(
  ctx: CliContext,
  identity: string,
  opts: OptionsOf<typeof define>,
): Promise<number> {
  const saved = loadSaved(ctx.env, identity);
  if (saved === undefined) {
    throw new UsageError(
      `no saved bottle '${identity}'`,
      '`bot-bottle ps --all` lists saved bottles',
    );
  }
  const backend = services(ctx).backend(backendName(ctx));
  if ((await backend.enumerateActive()).some((a) => a.identity === identity)) {
    throw new UsageError(
      `bottle ${identity} is running; stop it first (bot-bottle stop ${saved.slug})`,
    );
  }
  if (saved.reason !== 'running') await backend.removeSaved(saved.image);
  removeSavedState(ctx.env, identity);
  if (opts.json === true) printJson(ctx.io, { identity, removed: true, image: saved.image });
  else ctx.io.out(`removed ${identity} (image ${saved.image}); its git branch, if any, stays`);
  return 0;
}
