import { operatorAct } from '../controller/enforcement.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
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
  const { image } = await operatorAct(backend, ctx.env, bottle, 'freeze', {
    via: '`bot-bottle freeze`',
    controllerAlive: controllerAlive(bottle),
    progress: (l) => {
      ctx.io.err(l);
    },
  });
  if (opts.json === true) printJson(ctx.io, { slug, identity: bottle.identity, image });
  else
    ctx.io.out(
      `froze ${slug} as ${bottle.identity} (image ${image ?? ''}); continue with: bot-bottle resume ${bottle.identity}`,
    );
  return 0;
}
