import { bottleCommand, onBottle, operate, type Program } from './command.js';
import type { CliContext } from './context.js';

/** `bot-bottle kill <slug>`: remove a running bottle at once, keeping nothing. */
export function register(program: Program, ctx: CliContext): void {
  bottleCommand(
    program,
    'kill',
    'remove a running bottle at once, saving nothing (stop or freeze keep its work)',
  )
    .option('--json', 'print the outcome as JSON')
    .action((slug, opts) =>
      onBottle(ctx, slug, opts, async (t) => {
        await operate(ctx, t, 'kill', '`bot-bottle kill`');
        return {
          json: { slug, identity: t.bottle.identity, outcome: 'killed' },
          text: `killed ${slug}: its containers and networks are gone and nothing was saved`,
        };
      }),
    );
}
