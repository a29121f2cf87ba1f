import { bottleCommand, onBottle, operate, type Program } from './command.js';
import type { CliContext } from './context.js';

/** `bot-bottle freeze`: save a running bottle's agent container as an image, then tear it down. */
export function register(program: Program, ctx: CliContext): void {
  bottleCommand(
    program,
    'freeze',
    'save a running bottle (its container filesystem) and tear it down',
  )
    .option('--json', 'print the identity and image as JSON')
    .action((slug, opts) =>
      onBottle(ctx, slug, opts, async (t) => {
        const { image } = await operate(ctx, t, 'freeze', '`bot-bottle freeze`');
        const { identity } = t.bottle;
        return {
          json: { slug, identity, image },
          text: `froze ${slug} as ${identity} (image ${image ?? ''}); continue with: bot-bottle resume ${identity}`,
        };
      }),
    );
}
