import { rmSync } from 'node:fs';
import { EnvironmentError } from '../../errors.js';
import type { BottlePlan } from '../../plan/schema.js';
import { GUEST_HOME, GUEST_USER, GUEST_WORKSPACE } from '../../providers/registry.js';
import { mcpRegistration } from '../../supervise/host.js';
import type { Backend } from '../../backend/backend.js';
import { stageHome, tarDirectory, tarWorkspace } from '../provision.js';
import { saveBottle } from '../state.js';
import { savedBase, type LaunchContext } from './context.js';

/**
 * Phase `provision`: the bottle is recorded as running, gets the workspace
 * and the agent's home (fresh launches only: a resumed bottle has both),
 * the supervise MCP registration, and is ready once the proxy answers and
 * its controller link is up.
 */

/**
 * Register the MCP server in the agent CLI's own config. Only a resumed
 * bottle's home can hold an earlier entry, so only a resume removes one
 * first (each step starts the CLI in the container: a second or so).
 */
async function registerSupervise(
  backend: Backend,
  slug: string,
  provider: BottlePlan['agent']['provider'],
  opts: { on: boolean; resumed: boolean },
): Promise<void> {
  const reg = mcpRegistration(provider);
  if (reg === undefined) return;
  const quiet = { user: GUEST_USER, stdout: 'pipe', stderr: 'pipe' } as const;
  if (opts.resumed) await backend.exec(slug, reg.remove, quiet);
  if (!opts.on) return;
  const errs: Buffer[] = [];
  const r = await backend.exec(slug, reg.add, { ...quiet, onStderr: (c) => errs.push(c) });
  if (r.code !== 0) {
    throw new EnvironmentError(
      `registering the supervise MCP server with ${provider} failed (exit ${r.code})`,
      Buffer.concat(errs).toString('utf8').trim().slice(0, 500),
    );
  }
}

/** No metered call may leave before the controller admits it: wait for the sidecar's hello. */
async function linkedWithin(linked: Promise<void>, slug: string, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => {
      resolve('late');
    }, ms);
  });
  const r = await Promise.race([linked, late]);
  clearTimeout(timer);
  if (r === 'late') {
    throw new EnvironmentError(
      `the egress sidecar of ${slug} did not link to its controller within ${ms / 1000} s`,
      'the engine may not allow `exec` into containers; `bot-bottle doctor` checks it',
    );
  }
}

export async function provision(ctx: LaunchContext): Promise<void> {
  const { backend, req, slug, plan } = ctx;
  const prepared = ctx.need('prepared');
  const images = ctx.need('images');
  const bottle = ctx.need('bottle');
  // Written now so `bot-bottle freeze` (another process) can save this bottle with its plan.
  saveBottle(ctx.env, {
    ...savedBase(ctx),
    image: req.resume?.image ?? images.agent,
    reason: 'running',
    savedAt: new Date().toISOString(),
    branch: req.resume?.branch ?? null,
    exitCode: null,
  });
  if (req.resume === undefined) {
    ctx.progress(`copying the workspace ${prepared.workspace} to ${GUEST_WORKSPACE}`);
    const ws = await tarWorkspace(prepared.workspace);
    await Promise.all([backend.copyIn(slug, ws.stream, GUEST_WORKSPACE), ws.done]);
    ctx.checkpoint();
    const homeDir = stageHome({ plan, prompt: req.agentPrompt, providerFiles: bottle.guest.files });
    ctx.disposables.defer('the staged home', () => {
      rmSync(homeDir, { recursive: true, force: true });
    });
    const home = tarDirectory(homeDir);
    await Promise.all([backend.copyIn(slug, home.stream, GUEST_HOME), home.done]);
    ctx.checkpoint();
  }
  await registerSupervise(backend, slug, plan.agent.provider, {
    on: prepared.superviseTimeout !== undefined,
    resumed: req.resume !== undefined,
  });
  await backend.waitForEgress(slug, 30_000);
  await linkedWithin(bottle.control.linked(), slug, 30_000);
  ctx.checkpoint();
}
