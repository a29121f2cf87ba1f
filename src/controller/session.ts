import { InterruptedError } from '../errors.js';
import { applyChanges, loadChanges } from '../supervise/changes.js';
import { agent } from './launch/agent.js';
import { containers } from './launch/containers.js';
import { LaunchContext, type SessionRequest } from './launch/context.js';
import { homecoming } from './launch/homecoming.js';
import { images } from './launch/images.js';
import { prepare } from './launch/prepare.js';
import { provision } from './launch/provision.js';
import { save } from './launch/save.js';
import { newIdentity, removeSavedState, saveBottle } from './state.js';

export type { SessionRequest } from './launch/context.js';

/**
 * The launch core shared by `start` and `resume`. The process running it is
 * the bottle's controller: it creates the bottle, runs the agent on the
 * caller's terminal (or headless), and when the agent exits brings the work
 * home as a git branch, saves the bottle for `resume`, and tears it down.
 * A launch is its phases in order, each a function of one launch context;
 * whatever a phase acquires is a disposable of that context, released in
 * reverse at `teardown` or on any failure, Ctrl-C included.
 */

export interface LaunchRecord {
  outcome: 'ended' | 'frozen' | 'removed';
  slug: string;
  label: string;
  identity: string;
  agent: string;
  provider: string;
  bottles: string[];
  runtime: string;
  exitCode: number;
  branch: string | null;
  commits: number;
  committedLeftovers: boolean;
  workNote: string;
  savedImage: string | null;
  resumeCommand: string | null;
  startedAt: string;
  endedAt: string;
  /** Seconds spent in each phase, in the order they ran. */
  timings: Record<string, number>;
  /** Secrets redacted from the agent's LLM requests in this run, by kind. */
  redactions: Record<string, number>;
  output?: string;
}

/** The phases of a launch, in order; a phase that sets an outcome ends the list early. */
export const PHASES = [
  ['prepare', prepare],
  ['images', images],
  ['containers', containers],
  ['provision', provision],
  ['agent', agent],
  ['homecoming', homecoming],
  ['save', save],
] as const satisfies readonly (readonly [string, (ctx: LaunchContext) => Promise<void>])[];

/** Release everything the launch holds; a failed release is reported, never thrown. */
async function release(ctx: LaunchContext): Promise<void> {
  for (const failure of await ctx.disposables.release())
    ctx.progress(`releasing ${failure} failed`);
}

function launchRecord(ctx: LaunchContext, timings: Record<string, number>): LaunchRecord {
  const { plan } = ctx;
  const outcome = ctx.outcome ?? 'ended';
  const work = ctx.has('work') ? ctx.need('work') : undefined;
  const run = ctx.need('agent');
  const savedImage = ctx.has('savedImage') ? ctx.need('savedImage') : null;
  return {
    outcome,
    slug: ctx.slug,
    label: plan.label,
    identity: ctx.identity,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: plan.bottles.map((b) => b.name),
    runtime: plan.runtime.name,
    exitCode: run.exitCode,
    branch: work?.branch ?? null,
    commits: work?.commits ?? 0,
    committedLeftovers: work?.committedLeftovers ?? false,
    workNote: work?.note ?? '',
    savedImage,
    resumeCommand: savedImage === null ? null : `bot-bottle resume ${ctx.identity}`,
    startedAt: ctx.started.toISOString(),
    endedAt: new Date().toISOString(),
    timings,
    redactions: ctx.need('bottle').control.redactions(),
    ...(run.output === undefined ? {} : { output: run.output }),
  };
}

export async function runSession(req: SessionRequest): Promise<LaunchRecord> {
  // A resumed bottle starts with the access changes approved while it ran.
  const changes = req.resume === undefined ? undefined : loadChanges(req.env, req.resume.identity);
  const plan = changes === undefined ? req.plan : applyChanges(req.plan, changes);
  const started = new Date();
  const identity = req.resume?.identity ?? newIdentity(plan.slug, started);
  const ctx = new LaunchContext(req, plan, changes, identity, started);
  const timings: Record<string, number> = {};
  let teardownRunning: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (ctx.interrupted !== undefined) return;
    ctx.interrupted = signal;
    req.progress(`${signal}: tearing down ${ctx.slug}`);
    // Removing the containers also ends a running agent command.
    teardownRunning = ctx.teardownBottle();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  ctx.disposables.defer('signal handlers', () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  try {
    for (const [name, phase] of PHASES) {
      if (ctx.outcome !== undefined) break;
      const t0 = Date.now();
      await phase(ctx);
      timings[name] = (Date.now() - t0) / 1000;
    }
    const t0 = Date.now();
    await release(ctx);
    timings.teardown = (Date.now() - t0) / 1000;
    if (ctx.outcome === 'removed') removeSavedState(req.env, identity);
    return launchRecord(ctx, timings);
  } catch (e) {
    if (teardownRunning !== undefined) await teardownRunning;
    await release(ctx);
    // A failed launch leaves no saved bottle behind; a failed resume keeps the one it had.
    if (req.resume !== undefined) saveBottle(req.env, req.resume);
    else removeSavedState(req.env, identity);
    if (ctx.interrupted !== undefined && !(e instanceof InterruptedError))
      throw new InterruptedError(ctx.interrupted);
    throw e;
  }
}
