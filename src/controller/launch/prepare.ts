import { createCa } from '../../egress/ca.js';
import { GUEST_WORKSPACE } from '../../providers/registry.js';
import { superviseTimeoutMs } from '../../supervise/host.js';
import { assertPlanTrusted } from '../../trust/entries.js';
import { gitToplevel, run } from '../../util/exec.js';
import { configurePayload } from '../egress.js';
import { resolveEnv, resolveRoutes } from '../values.js';
import type { LaunchContext } from './context.js';

/**
 * Phase `prepare`: everything that can fail without creating anything
 * (trust, the engine's preflight, values from the host, the CA).
 */

async function hostRepo(workspace: string): Promise<{ repo: string | null; base: string | null }> {
  const repo = gitToplevel(workspace);
  if (repo === undefined) return { repo: null, base: null };
  const head = await run('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: repo });
  return { repo, base: head.code === 0 ? head.stdout.trim() : null };
}

export async function prepare(ctx: LaunchContext): Promise<void> {
  const { plan, req } = ctx;
  assertPlanTrusted(plan);
  await ctx.backend.preflight(plan.runtime.name);
  const userEnv = await resolveEnv(plan, req.literals, req.env, req.ask);
  const workspace = plan.mounts.find((m) => m.target === GUEST_WORKSPACE)?.source ?? process.cwd();
  const { repo, base } =
    req.resume === undefined
      ? await hostRepo(workspace)
      : { repo: req.resume.repo, base: req.resume.baseCommit };
  const routeValues = await resolveRoutes(plan, req.literals, req.env, req.ask);
  // A fresh CA per launch (resume included); its key goes to the sidecar's tmpfs only.
  const ca = await createCa(ctx.slug);
  ctx.set('prepared', {
    userEnv,
    workspace,
    repo,
    base,
    ca,
    payload: configurePayload(plan, ca, routeValues),
    superviseTimeout: req.supervise ? superviseTimeoutMs(req.env) : undefined,
  });
}
