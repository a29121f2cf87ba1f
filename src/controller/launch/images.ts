import { ensureImage } from '../../backend/docker/build.js';
import { egressImageRecipe } from '../../backend/docker/egress-image.js';
import { imageId } from '../../backend/docker/health.js';
import { EnvironmentError } from '../../errors.js';
import { agentImageRecipe } from '../../providers/recipe.js';
import { readCaPems } from '../egress.js';
import type { LaunchContext } from './context.js';

/** Phase `images`: the agent image (the recipe's, or the saved one on resume) and the sidecars'. */
export async function images(ctx: LaunchContext): Promise<void> {
  const { plan, req } = ctx;
  const build = { logDir: ctx.logDir, onProgress: ctx.progress };
  let agent: string;
  if (req.resume !== undefined) {
    agent = req.resume.image;
    if ((await imageId(agent)) === undefined) {
      throw new EnvironmentError(
        `the saved image ${agent} of ${ctx.identity} is gone`,
        `\`bot-bottle rm ${ctx.identity}\` forgets it`,
      );
    }
  } else {
    const recipe = agentImageRecipe({
      provider: plan.agent.provider,
      base: plan.image.base,
      apt: plan.image.apt,
      dockerfile: plan.image.dockerfile,
      extraCaPems: readCaPems(plan),
    });
    agent = (await ensureImage(recipe, build)).tag;
  }
  const egress = (await ensureImage(egressImageRecipe(plan.image.base), build)).tag;
  ctx.set('images', { agent, egress });
}
