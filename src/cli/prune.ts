import { teardownBottle } from '../controller/egress-archive.js';
import { listSaved, removeSavedState } from '../controller/state.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive } from './find.js';
import { printJson } from './output.js';
import { runPruneSaved } from './prune-saved.js';
import { services, backendName } from './services.js';
import { UsageError } from '../errors.js';

function define(program: Program) {
  return program
    .command('prune')
    .description(
      'remove leftovers of crashed launches (containers, networks, records); with --saved or --images: old saved bottles, unused images',
    )
    .option('--saved', "remove the saved bottles settings.yml's keep: rules expire")
    .option(
      '--older-than <span>',
      'with --saved: remove saved bottles saved longer ago than this, e.g. 7d (instead of keep:)',
    )
    .option('--images', 'remove agent and sidecar images no current recipe builds and nothing uses')
    .option('--dry-run', 'with --saved or --images: list what would be removed; remove nothing')
    .option('--json', 'print what was removed as JSON')
    .addHelpText(
      'after',
      `
Without --saved or --images, prune removes what crashed launches left and
keeps every saved bottle (\`rm\` forgets one). --saved and --images do only
their own job and may be combined; each line names what went and the bytes
it freed (layers other images share stay).

Examples:
  bot-bottle prune
  bot-bottle prune --saved --older-than 7d --dry-run
  bot-bottle prune --images --json`,
    );
}

export type PruneOptions = OptionsOf<typeof define>;

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (opts) => exit(await runPrune(ctx, opts)));
}

/**
 * Remove what crashed launches left: bottles whose controller process is
 * gone (or whose agent container stopped), and launch records of bottles
 * that no longer exist. Saved bottles are kept (`rm` forgets those).
 */
async function runPrune(ctx: CliContext, opts: PruneOptions): Promise<number> {
  const backend = services(ctx).backend(backendName(ctx));
  if (opts.olderThan !== undefined && opts.saved !== true) {
    throw new UsageError('--older-than is for --saved: bot-bottle prune --saved --older-than 7d');
  }
  if (opts.saved === true || opts.images === true) return runPruneSaved(ctx, backend, opts);
  if (opts.dryRun === true) {
    throw new UsageError('--dry-run is for --saved and --images');
  }
  const active = await backend.enumerateActive();
  const removed: { slug: string; containers: number; networks: number }[] = [];
  for (const a of active) {
    if (a.state === 'running' && controllerAlive(a)) continue;
    const r = await teardownBottle(backend, ctx.env, a.slug, a.identity, (l) => {
      ctx.io.err(l);
    });
    removed.push({ slug: a.slug, containers: r.containers.length, networks: r.networks.length });
  }
  const still = new Set((await backend.enumerateActive()).map((a) => a.identity));
  const records: string[] = [];
  for (const s of listSaved(ctx.env)) {
    if (s.reason === 'running' && !still.has(s.identity)) {
      removeSavedState(ctx.env, s.identity);
      records.push(s.identity);
    }
  }
  const networks = await backend.pruneNetworks();
  if (opts.json === true) {
    printJson(ctx.io, { bottles: removed, records, networks });
    return 0;
  }
  for (const r of removed)
    ctx.io.out(
      `removed leftover bottle ${r.slug} (${r.containers} containers, ${r.networks} networks)`,
    );
  for (const n of networks) ctx.io.out(`removed orphaned network ${n}`);
  for (const id of records) ctx.io.out(`forgot launch record ${id} (its bottle is gone)`);
  if (removed.length + records.length + networks.length === 0) ctx.io.out('nothing to prune');
  return 0;
}
