import { stopBottle } from '../controller/enforcement.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { printJson } from './output.js';
import { services } from './services.js';

/** `bot-bottle stop`: end the agent gracefully (work comes home, the bottle is saved). */
export async function runStop(
  ctx: CliContext,
  slug: string,
  opts: { json?: boolean; timeout?: string },
): Promise<number> {
  const backend = services(ctx).backend('docker');
  const bottle = await findActive(backend, slug);
  const how = await stopBottle(backend, ctx.env, bottle, {
    controllerAlive: controllerAlive(bottle),
    timeoutMs: Number(opts.timeout ?? '60') * 1000,
    progress: (l) => {
      ctx.io.err(l);
    },
  });
  if (opts.json === true) printJson(ctx.io, { slug, outcome: how });
  else
    ctx.io.out(
      how === 'agent-stopped'
        ? `stopped ${slug}; its work came home and the bottle was saved (bot-bottle ps --all)`
        : `${slug} had no controller; removed its containers and networks`,
    );
  return 0;
}
