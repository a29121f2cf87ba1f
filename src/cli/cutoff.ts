import { bottleCommand, onBottle, operate, type Program } from './command.js';
import type { CliContext } from './context.js';

/**
 * `bot-bottle cutoff <slug> [--lift]`: refuse (or allow again) a running
 * bottle's metered API calls. The bottle keeps running; its controller
 * reads the decision from the ledger at the next call.
 */
export function register(program: Program, ctx: CliContext): void {
  bottleCommand(
    program,
    'cutoff',
    "refuse a running bottle's metered API calls (it keeps running); --lift allows them again",
  )
    .option('--lift', 'allow metered calls again (within the budget)')
    .option('--json', 'print the outcome as JSON')
    .action((slug, opts) =>
      onBottle(ctx, slug, opts, async (t) => {
        const lift = opts.lift === true;
        await operate(ctx, t, lift ? 'lift' : 'cutoff', '`bot-bottle cutoff`');
        return {
          json: { slug, identity: t.bottle.identity, cutOff: !lift },
          text: lift
            ? `${slug} may make metered API calls again (within its budget)`
            : `cut off the metered API calls of ${slug}; it keeps running (lift with: bot-bottle cutoff ${slug} --lift)`,
        };
      }),
    );
}
