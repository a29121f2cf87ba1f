import { egressImageRecipe, type Backend } from '../backend/backend.js';
import { PROVIDERS } from '../manifest/schema.js';
import type { BottlePlan } from '../plan/schema.js';
import { agentImageRecipe, recipeHash, recipeTag, type ImageRecipe } from '../providers/recipe.js';
import { readCaPems } from './egress.js';

/** The repositories bot-bottle builds images into: one per provider, and the sidecars'. */
export const BUILT_REPOSITORIES: ReadonlySet<string> = new Set([
  ...PROVIDERS.map((p) => `bot-bottle-${p}`),
  'bot-bottle-egress',
]);

/** The agent image recipe a plan launches with (as the launch core builds it). */
export function planRecipe(plan: BottlePlan): ImageRecipe {
  return agentImageRecipe({
    provider: plan.agent.provider,
    base: plan.image.base,
    apt: plan.image.apt,
    dockerfile: plan.image.dockerfile,
    extraCaPems: readCaPems(plan),
  });
}

/**
 * The tags today's recipes produce for these plans (their agent images and
 * the sidecar image on each base). A base image the engine does not hold
 * produces nothing: no image can have been built from it as it is now.
 */
export async function producedTags(
  backend: Backend,
  plans: readonly BottlePlan[],
): Promise<Set<string>> {
  const baseIds = new Map<string, string | undefined>();
  const baseId = async (ref: string): Promise<string | undefined> => {
    if (!baseIds.has(ref)) baseIds.set(ref, await backend.imageId(ref));
    return baseIds.get(ref);
  };
  const tags = new Set<string>();
  const add = async (recipe: ImageRecipe): Promise<void> => {
    const id = await baseId(recipe.base);
    if (id !== undefined) tags.add(recipeTag(recipe, recipeHash(recipe, id)));
  };
  for (const plan of plans) await add(planRecipe(plan));
  for (const base of new Set(plans.map((p) => p.image.base))) await add(egressImageRecipe(base));
  return tags;
}
