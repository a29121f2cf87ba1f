import { teardownBottle } from '../controller/egress-archive.js';
import { loadSaved, saveBottle } from '../controller/state.js';
import { EnvironmentError } from '../errors.js';
import type { CliContext } from './context.js';
import { findActive } from './find.js';
import { printJson } from './output.js';
import { services } from './services.js';

/** Save a running bottle's agent container as an image, then tear the bottle down. */
export async function runFreeze(
  ctx: CliContext,
  slug: string,
  opts: { json?: boolean },
): Promise<number> {
  const backend = services(ctx).backend('docker');
  const bottle = await findActive(backend, slug);
  const saved = loadSaved(ctx.env, bottle.identity);
  if (saved === undefined) {
    throw new EnvironmentError(
      `bottle ${slug} has no launch record (${bottle.identity}); it cannot be resumed`,
      '`bot-bottle stop` ends it instead',
    );
  }
  const image = await backend.freeze(slug, bottle.identity);
  // Recorded before the teardown, so the controller reports a freeze, not a removal.
  saveBottle(ctx.env, { ...saved, image, reason: 'frozen', savedAt: new Date().toISOString() });
  await teardownBottle(backend, ctx.env, slug, bottle.identity, (l) => {
    ctx.io.err(l);
  });
  if (opts.json === true) printJson(ctx.io, { slug, identity: bottle.identity, image });
  else
    ctx.io.out(
      `froze ${slug} as ${bottle.identity} (image ${image}); continue with: bot-bottle resume ${bottle.identity}`,
    );
  return 0;
}
