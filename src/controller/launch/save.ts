import { removeSavedState, saveBottle } from '../state.js';
import { savedBase, type LaunchContext } from './context.js';

/**
 * Phase `save`: the agent container is committed so `resume` can continue
 * it; a resumed bottle's older image is replaced by the new one. With
 * `--rm` nothing is saved and the bottle's record goes.
 */
export async function save(ctx: LaunchContext): Promise<void> {
  const { backend, req } = ctx;
  // --rm: the work is home; nothing of the bottle stays.
  if (req.discard === true) {
    removeSavedState(ctx.env, ctx.identity);
    if (req.resume !== undefined) {
      // Its container uses the saved image until it is gone.
      await ctx.teardownBottle();
      await backend.removeSaved(req.resume.image).catch((e: unknown) => {
        ctx.progress(`removing ${req.resume?.image ?? ''} failed: ${String(e)}`);
      });
    }
    return;
  }
  const previous = req.resume === undefined ? undefined : await backend.images.id(req.resume.image);
  const savedImage = await backend.freeze(ctx.slug, ctx.identity);
  saveBottle(ctx.env, {
    ...savedBase(ctx),
    image: savedImage,
    reason: 'ended',
    savedAt: new Date().toISOString(),
    branch: ctx.need('work').branch ?? req.resume?.branch ?? null,
    exitCode: ctx.need('agent').exitCode,
  });
  if (previous !== undefined && previous !== (await backend.images.id(savedImage))) {
    await backend.removeSaved(previous).catch(() => undefined);
  }
  ctx.set('savedImage', savedImage);
}
