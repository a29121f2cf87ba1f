import type { BottlePlan } from '../plan/schema.js';
import { renderPreflight } from '../tui/preflight.js';
import { describeTrust, recordTrust, type TrustAssessment } from '../trust/assess.js';
import {
  assertPlanTrusted,
  formatActions,
  TRUST_HINT,
  untrustedActions,
} from '../trust/entries.js';
import type { CliContext } from './context.js';
import type { Services } from './services.js';

export type TrustGate =
  /** Nothing needs trust: launch as planned. */
  | { outcome: 'trusted'; plan: BottlePlan }
  /** The operator saw what would act on the host and allowed it (the launch is confirmed). */
  | { outcome: 'approved'; plan: BottlePlan }
  | { outcome: 'declined' };

/**
 * Before a launch: entries of an untrusted repository layer that would act
 * on the host. Headless and `-y` launches ask nothing, so they are refused
 * (exit 2, naming `bot-bottle trust`); an interactive start shows exactly
 * what would run, be read and be injected, and asks (default no). A yes is
 * for this launch only, unless the operator also trusts the layer.
 */
export async function gateTrust(
  ctx: CliContext,
  svc: Services,
  plan: BottlePlan,
  trust: TrustAssessment,
  mode: { headless: boolean; yes: boolean; ask: boolean },
): Promise<TrustGate> {
  const actions = untrustedActions(plan);
  if (actions.length === 0) return { outcome: 'trusted', plan };
  if (mode.headless) assertPlanTrusted(plan, 'this --headless launch');
  if (mode.yes) assertPlanTrusted(plan, 'this launch (-y asks nothing)');
  if (!mode.ask) assertPlanTrusted(plan);

  const say = (l: string): void => {
    ctx.io.err(l);
  };
  say(renderPreflight(plan));
  say('');
  say(
    `The repository layer at ${trust.repoRoot ?? '?'} is ${describeTrust(trust)}. This launch would, on this host (marked ! above):`,
  );
  for (const l of formatActions(actions)) say(l);
  say('Entries of your own layer (~/.bot-bottle) need no trust and are not listed.');
  const once = await svc.ui.confirm(
    'Launch, letting these act on this host for this launch only? (no: nothing is created, nothing runs)',
  );
  if (!once) {
    say('bot-bottle: not launched; nothing was created and nothing ran');
    say(`  hint: ${TRUST_HINT(trust.repoRoot)}`);
    return { outcome: 'declined' };
  }
  if (trust.digest !== null && trust.problem === null) {
    if (
      await svc.ui.confirm('Also trust this repository layer as it is now, for later launches?')
    ) {
      const { path } = recordTrust(ctx.env, trust);
      say(
        `bot-bottle: trusted ${trust.repoRoot ?? ''} (${path}); any change to it needs trust again`,
      );
    }
  } else {
    say(`bot-bottle: this layer cannot be trusted for later launches: ${trust.problem ?? ''}`);
  }
  return { outcome: 'approved', plan: { ...plan, trust: { ...plan.trust, approvedOnce: true } } };
}
