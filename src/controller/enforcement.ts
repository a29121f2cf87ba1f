import type { ActiveBottle, Backend } from '../backend/backend.js';
import { EnvironmentError } from '../errors.js';
import type { EnforcementAction } from '../ledger/types.js';
import { withLedger } from '../ledger/open.js';
import { STOP_AGENT_ARGV } from './agent-process.js';
import { teardownBottle } from './egress-archive.js';
import { loadSaved, removeSavedState, saveBottle } from './state.js';

export { cutOffBy, operatorCutoff } from './operator-cutoff.js';

/**
 * What can be done to a running bottle, by its controller when a budget is
 * used up or by an operator (CLI, dashboard): cut off its metered calls,
 * freeze it (save, then remove; resumable), kill it (remove, nothing kept).
 * Each is recorded in the ledger's enforcement log.
 */

export async function freezeBottle(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  slug: string,
  identity: string,
  progress: (line: string) => void,
): Promise<string> {
  const saved = loadSaved(env, identity);
  if (saved === undefined) {
    throw new EnvironmentError(
      `bottle ${slug} has no launch record (${identity}); it cannot be resumed`,
      '`bot-bottle stop` ends it instead',
    );
  }
  const image = await backend.freeze(slug, identity);
  // Recorded before the teardown, so the controller reports a freeze, not a removal.
  saveBottle(env, { ...saved, image, reason: 'frozen', savedAt: new Date().toISOString() });
  await teardownBottle(backend, env, slug, identity, progress);
  return image;
}

export async function killBottle(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  slug: string,
  identity: string,
  progress: (line: string) => void,
): Promise<void> {
  await teardownBottle(backend, env, slug, identity, progress);
  removeSavedState(env, identity);
}

export function operatorAction(
  a: Pick<EnforcementAction, 'slug' | 'identity' | 'action'>,
  reason: string,
): EnforcementAction {
  return { ...a, at: new Date().toISOString(), scope: 'operator', used: 0, limit: null, reason };
}

/** Records an operator's action on a launch in the host's ledger. */
export function recordOperator(
  env: NodeJS.ProcessEnv,
  slug: string,
  identity: string,
  action: EnforcementAction['action'],
  reason: string,
  log?: (line: string) => void,
): Promise<void> {
  return withLedger(
    env,
    (l) => l.recordAction(operatorAction({ slug, identity, action }, reason)),
    log,
  );
}

/**
 * End a bottle's agent gracefully: its controller then brings the work
 * home, saves the bottle and tears it down, as after a normal exit. A
 * bottle whose controller is gone is torn down directly.
 */
export async function stopBottle(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  bottle: ActiveBottle,
  o: { controllerAlive: boolean; timeoutMs: number; progress: (line: string) => void },
): Promise<'agent-stopped' | 'torn-down'> {
  const { slug } = bottle;
  if (!o.controllerAlive || bottle.state !== 'running') {
    await teardownBottle(backend, env, slug, bottle.identity, o.progress);
    return 'torn-down';
  }
  await backend.exec(slug, STOP_AGENT_ARGV, { stdout: 'pipe', stderr: 'pipe' });
  const deadline = Date.now() + o.timeoutMs;
  while (await backend.exists(slug)) {
    if (Date.now() > deadline) {
      throw new EnvironmentError(
        `bottle ${slug} is still up ${o.timeoutMs / 1000} s after its agent was told to stop`,
        `\`bot-bottle prune\` or \`${backend.name} rm -f bot-bottle-${slug}\` removes it without saving`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return 'agent-stopped';
}

export type OperatorAction = 'cutoff' | 'lift' | 'freeze' | 'kill' | 'stop';

const OPERATOR_VERB: Record<OperatorAction, string> = {
  cutoff: 'metered calls cut off',
  lift: 'metered calls allowed again',
  freeze: 'frozen',
  kill: 'killed',
  stop: 'stopped',
};

/**
 * An operator's action on a running bottle (the CLI commands and the
 * dashboard keys), carried out and recorded in the enforcement log.
 */
export async function operatorAct(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  bottle: ActiveBottle,
  action: OperatorAction,
  o: {
    via: string;
    controllerAlive: boolean;
    progress: (line: string) => void;
    timeoutMs?: number;
  },
): Promise<{ image?: string; stopped?: 'agent-stopped' | 'torn-down' }> {
  const { slug, identity } = bottle;
  const record = (): Promise<void> =>
    recordOperator(
      env,
      slug,
      identity,
      action === 'lift' ? 'restore' : action,
      `${OPERATOR_VERB[action]} by ${o.via}`,
      o.progress,
    );
  switch (action) {
    case 'cutoff':
    case 'lift':
      await record();
      return {};
    case 'freeze': {
      // Recorded once the image exists: a failed freeze changed nothing.
      const image = await freezeBottle(backend, env, slug, identity, o.progress);
      await record();
      return { image };
    }
    case 'kill':
      // Recorded first: the removal is what the row is for, even if it fails half way.
      await record();
      await killBottle(backend, env, slug, identity, o.progress);
      return {};
    case 'stop':
      await record();
      return {
        stopped: await stopBottle(backend, env, bottle, {
          controllerAlive: o.controllerAlive,
          timeoutMs: o.timeoutMs ?? 60_000,
          progress: o.progress,
        }),
      };
  }
}
