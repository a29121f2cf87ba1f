import { teardownBottle } from '../controller/egress-archive.js';
import { listSaved, removeSavedState } from '../controller/state.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive } from './find.js';
import { printJson } from './output.js';
import { services } from './services.js';

/**
 * Remove what crashed launches left: bottles whose controller process is
 * gone (or whose agent container stopped), and launch records of bottles
 * that no longer exist. Saved bottles are kept (`rm` forgets those).
 */
function define(program: Program) {
  return program
    .command('prune')
    .description('remove leftovers of crashed launches (containers, networks, records)')
    .option('--json', 'print what was removed as JSON');
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action(async (opts) => exit(await runPrune(ctx, opts)));
}

async function runPrune(ctx: CliContext, opts: OptionsOf<typeof define>): Promise<number> {
  const backend = services(ctx).backend('docker');
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
