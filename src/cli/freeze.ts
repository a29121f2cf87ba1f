import { freezeBottle, recordOperator } from '../controller/enforcement.js';
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
  const image = await freezeBottle(backend, ctx.env, slug, bottle.identity, (l) => {
    ctx.io.err(l);
  });
  await recordOperator(ctx.env, slug, bottle.identity, 'freeze', 'frozen by `bot-bottle freeze`');
  if (opts.json === true) printJson(ctx.io, { slug, identity: bottle.identity, image });
  else
    ctx.io.out(
      `froze ${slug} as ${bottle.identity} (image ${image}); continue with: bot-bottle resume ${bottle.identity}`,
    );
  return 0;
}
