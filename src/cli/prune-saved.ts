import type { Backend } from '../backend/backend.js';
import { applyKeep, imagesByRef, type ForgottenBottle } from '../controller/keep.js';
import { BUILT_REPOSITORIES, producedTags } from '../controller/recipe-tags.js';
import { unusedImages, type KeepRules } from '../controller/retention.js';
import { listSaved } from '../controller/state.js';
import { UsageError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';
import { loadSettings } from '../settings/settings.js';
import { loadConfigWithTrust } from '../trust/assess.js';
import { parseDuration } from '../util/duration.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';
import type { PruneOptions } from './prune.js';
import { describeExpiry, formatBytes } from './saved.js';
import { makePlan } from './start.js';

/**
 * `prune --saved` and `prune --images`: saved bottles the keep rules (or
 * `--older-than`) expire, and agent and sidecar images no current recipe
 * produces. `--dry-run` lists what would go and removes nothing.
 */

interface RemovedImage {
  ref: string;
  created: string;
  bytes: number;
}

function savedRules(ctx: CliContext, olderThan: string | undefined): KeepRules {
  const keep = loadSettings({ cwd: ctx.cwd, env: ctx.env }).keep;
  if (olderThan !== undefined) {
    const maxAgeMs = parseDuration(olderThan);
    if (maxAgeMs === undefined) {
      throw new UsageError(
        `--older-than: expected a span such as 12h, 7d or 2w, got ${JSON.stringify(olderThan)}`,
      );
    }
    return { maxAgeMs, frozen: keep?.frozen ?? 'keep' };
  }
  if (keep === undefined) {
    throw new UsageError(
      'prune --saved needs a rule: --older-than SPAN, or keep: in settings.yml',
      'e.g. bot-bottle prune --saved --older-than 7d (docs/configuration.md, keep)',
    );
  }
  return keep;
}

/** Plans for every agent visible from here (default bottles) and every saved bottle's plan. */
function plansInView(ctx: CliContext): { plans: BottlePlan[]; warnings: string[] } {
  const { index, trust } = loadConfigWithTrust({ cwd: ctx.cwd, env: ctx.env });
  const plans: BottlePlan[] = listSaved(ctx.env).map((s) => s.plan);
  const warnings: string[] = [];
  for (const agent of index.agents.keys()) {
    try {
      plans.push(makePlan(ctx, index, { agent, bottles: [], label: agent }, new Map(), trust));
    } catch (e) {
      warnings.push(
        `agent ${agent}: no plan (${e instanceof Error ? e.message : String(e)}); its images count as unused`,
      );
    }
  }
  return { plans, warnings };
}

async function pruneImages(
  ctx: CliContext,
  backend: Backend,
  dryRun: boolean,
): Promise<{ removed: RemovedImage[]; warnings: string[] }> {
  const { plans, warnings } = plansInView(ctx);
  const produced = await producedTags(backend, plans);
  const referenced = new Set(listSaved(ctx.env).map((s) => s.image));
  const images = [...(await imagesByRef(backend)).values()];
  const removed: RemovedImage[] = [];
  for (const i of unusedImages(images, {
    repositories: BUILT_REPOSITORIES,
    produced,
    referenced,
  })) {
    if (!dryRun) await backend.removeImage(i.ref);
    removed.push({ ref: i.ref, created: i.created, bytes: i.uniqueSize });
  }
  return { removed, warnings };
}

export async function runPruneSaved(
  ctx: CliContext,
  backend: Backend,
  o: PruneOptions,
): Promise<number> {
  const dryRun = o.dryRun === true;
  const rules = o.saved === true ? savedRules(ctx, o.olderThan) : undefined;
  const saved: ForgottenBottle[] =
    rules === undefined ? [] : await applyKeep(backend, ctx.env, rules, { dryRun });
  const images = o.images === true ? await pruneImages(ctx, backend, dryRun) : undefined;
  const bytes =
    saved.reduce((n, s) => n + s.bytes, 0) +
    (images?.removed ?? []).reduce((n, i) => n + i.bytes, 0);
  const warnings = images?.warnings ?? [];
  if (o.json === true) {
    printJson(ctx.io, {
      dryRun,
      ...(rules === undefined ? {} : { saved }),
      ...(images === undefined ? {} : { images: images.removed }),
      bytes,
      warnings,
    });
    return 0;
  }
  for (const w of warnings) ctx.io.err(`warning: ${w}`);
  const verb = dryRun ? 'would remove' : 'removed';
  for (const s of saved) {
    ctx.io.out(
      `${verb} saved bottle ${s.identity} (${rules === undefined ? '' : describeExpiry(s.why, rules)}): ${formatBytes(s.bytes)}`,
    );
  }
  for (const i of images?.removed ?? []) {
    ctx.io.out(`${verb} image ${i.ref} (no current recipe builds it): ${formatBytes(i.bytes)}`);
  }
  if (saved.length + (images?.removed.length ?? 0) === 0) ctx.io.out('nothing to prune');
  else ctx.io.out(`${dryRun ? 'would free' : 'freed'} ${formatBytes(bytes)}`);
  return 0;
}
