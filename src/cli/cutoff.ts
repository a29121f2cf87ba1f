import type { ActiveBottle } from '../backend/backend.js';
import { operatorAct, type OperatorAction } from '../controller/enforcement.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { printJson } from './output.js';
import { services } from './services.js';

async function act(
  ctx: CliContext,
  slug: string,
  action: OperatorAction,
  via: string,
): Promise<ActiveBottle> {
  const backend = services(ctx).backend('docker');
  const bottle = await findActive(backend, slug);
  await operatorAct(backend, ctx.env, bottle, action, {
    via,
    controllerAlive: controllerAlive(bottle),
    progress: (l) => {
      ctx.io.err(l);
    },
  });
  return bottle;
}

/**
 * `bot-bottle cutoff <slug> [--lift]`: refuse (or allow again) a running
 * bottle's metered API calls. The bottle keeps running; its controller
 * reads the decision from the ledger at the next call.
 */
export async function runCutoff(
  ctx: CliContext,
  slug: string,
  opts: { json?: boolean; lift?: boolean },
): Promise<number> {
  const lift = opts.lift === true;
  const bottle = await act(ctx, slug, lift ? 'lift' : 'cutoff', '`bot-bottle cutoff`');
  if (opts.json === true) {
    printJson(ctx.io, { slug, identity: bottle.identity, cutOff: !lift });
  } else {
    ctx.io.out(
      lift
        ? `${slug} may make metered API calls again (within its budget)`
        : `cut off the metered API calls of ${slug}; it keeps running (lift with: bot-bottle cutoff ${slug} --lift)`,
    );
  }
  return 0;
}

/** `bot-bottle kill <slug>`: remove a running bottle at once, keeping nothing. */
export async function runKill(
  ctx: CliContext,
  slug: string,
  opts: { json?: boolean },
): Promise<number> {
  const bottle = await act(ctx, slug, 'kill', '`bot-bottle kill`');
  if (opts.json === true) printJson(ctx.io, { slug, identity: bottle.identity, outcome: 'killed' });
  else ctx.io.out(`killed ${slug}: its containers and networks are gone and nothing was saved`);
  return 0;
}
