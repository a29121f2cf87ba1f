import { teardownBottle } from '../controller/egress-archive.js';
import { STOP_AGENT_ARGV } from '../controller/session.js';
import { EnvironmentError } from '../errors.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { printJson } from './output.js';
import { services } from './services.js';

/**
 * End a bottle's agent gracefully: its controller then brings the work
 * home, saves the bottle and tears it down, as after a normal exit. A
 * bottle whose controller is gone is torn down directly.
 */
export async function runStop(
  ctx: CliContext,
  slug: string,
  opts: { json?: boolean; timeout?: string },
): Promise<number> {
  const backend = services(ctx).backend('docker');
  const bottle = await findActive(backend, slug);
  const timeoutMs = Number(opts.timeout ?? '60') * 1000;
  let how: 'agent-stopped' | 'torn-down';
  if (controllerAlive(bottle) && bottle.state === 'running') {
    await backend.exec(slug, STOP_AGENT_ARGV, { stdout: 'pipe', stderr: 'pipe' });
    const deadline = Date.now() + timeoutMs;
    while (await backend.exists(slug)) {
      if (Date.now() > deadline) {
        throw new EnvironmentError(
          `bottle ${slug} is still up ${timeoutMs / 1000} s after its agent was told to stop`,
          `\`bot-bottle prune\` or \`docker rm -f bot-bottle-${slug}\` removes it without saving`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    how = 'agent-stopped';
  } else {
    await teardownBottle(backend, ctx.env, slug, bottle.identity, (l) => {
      ctx.io.err(l);
    });
    how = 'torn-down';
  }
  if (opts.json === true) printJson(ctx.io, { slug, outcome: how });
  else
    ctx.io.out(
      how === 'agent-stopped'
        ? `stopped ${slug}; its work came home and the bottle was saved (bot-bottle ps --all)`
        : `${slug} had no controller; removed its containers and networks`,
    );
  return 0;
}
