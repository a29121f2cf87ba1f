import { egressImageRecipe } from '../../backend/backend.js';
import { EnvironmentError } from '../../errors.js';
import { agentImageRecipe } from '../../providers/recipe.js';
import { readCaPems } from '../egress.js';
import type { LaunchContext } from './context.js';

/** Phase `images`: the agent image (the recipe's, or the saved one on resume) and the sidecars'. */
export async function images(ctx: LaunchContext): Promise<void> {
  const { backend, plan, req } = ctx;
  const build = { logDir: ctx.logDir, onProgress: ctx.progress };
  let agent: string;
  if (req.resume !== undefined) {
    agent = req.resume.image;
    if (!(await backend.images.exists(agent))) {
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
    agent = (await backend.images.ensure(recipe, build)).tag;
  }
  const egress = (await backend.images.ensure(egressImageRecipe(plan.image.base), build)).tag;
  ctx.set('images', { agent, egress });
}
