import { imageId } from '../../backend/docker/health.js';
import { saveBottle } from '../state.js';
import { savedBase, type LaunchContext } from './context.js';

/**
 * Phase `save`: the agent container is committed so `resume` can continue
 * it; a resumed bottle's older image is replaced by the new one.
 */
export async function save(ctx: LaunchContext): Promise<void> {
  const { backend, req } = ctx;
  const previous = req.resume === undefined ? undefined : await imageId(req.resume.image);
  const savedImage = await backend.freeze(ctx.slug, ctx.identity);
  saveBottle(ctx.env, {
    ...savedBase(ctx),
    image: savedImage,
    reason: 'ended',
    savedAt: new Date().toISOString(),
    branch: ctx.need('work').branch ?? req.resume?.branch ?? null,
    exitCode: ctx.need('agent').exitCode,
  });
  if (previous !== undefined && previous !== (await imageId(savedImage))) {
    await backend.removeSaved(previous).catch(() => undefined);
  }
  ctx.set('savedImage', savedImage);
}
