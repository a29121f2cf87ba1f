import { loadSaved } from '../state.js';
import { bringWorkHome } from '../work-home.js';
import type { LaunchContext } from './context.js';

/**
 * Phase `homecoming`: the agent's work comes home as a git branch, unless
 * the bottle was frozen or removed under the session (then nothing is left
 * to bring, and the session ends with that outcome).
 */
export async function homecoming(ctx: LaunchContext): Promise<void> {
  // `bot-bottle freeze` records the freeze before it removes the bottle,
  // and the agent command can end before the removal is visible.
  const saved = loadSaved(ctx.env, ctx.identity);
  if (saved?.reason === 'frozen') {
    ctx.outcome = 'frozen';
    ctx.set('savedImage', saved.image);
    return;
  }
  if (!(await ctx.backend.exists(ctx.slug))) {
    // Removed under the controller (kill, prune): nothing remains to resume.
    ctx.outcome = 'removed';
    return;
  }
  const { repo, base } = ctx.need('prepared');
  ctx.progress('bringing the work home');
  ctx.set(
    'work',
    await bringWorkHome(ctx.backend, ctx.slug, {
      repo,
      baseCommit: base,
      message: `bot-bottle: uncommitted work at the end of session ${ctx.slug}`,
    }),
  );
  ctx.checkpoint();
}
