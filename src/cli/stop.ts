import { stopBottle } from '../controller/enforcement.js';
import { bottleCommand, onBottle, type Program } from './command.js';
import type { CliContext } from './context.js';
import { controllerAlive } from './find.js';

/** `bot-bottle stop`: end the agent gracefully (work comes home, the bottle is saved). */
export function register(program: Program, ctx: CliContext): void {
  bottleCommand(
    program,
    'stop',
    'end the agent of a running bottle; its work comes home and the bottle is saved',
  )
    .option('--timeout <seconds>', 'how long to wait for the bottle to wind down', '60')
    .option('--json', 'print the outcome as JSON')
    .action((slug, opts) =>
      onBottle(ctx, slug, opts, async ({ backend, bottle }) => {
        const how = await stopBottle(backend, ctx.env, bottle, {
          controllerAlive: controllerAlive(bottle),
          timeoutMs: Number(opts.timeout) * 1000,
          progress: (l) => {
            ctx.io.err(l);
          },
        });
        return {
          json: { slug, outcome: how },
          text:
            how === 'agent-stopped'
              ? `stopped ${slug}; its work came home and the bottle was saved (bot-bottle ps --all)`
              : `${slug} had no controller; removed its containers and networks`,
        };
      }),
    );
}
