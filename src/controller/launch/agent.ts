import { agentCommand } from '../../providers/command.js';
import { GUEST_USER, GUEST_WORKSPACE, PROVIDER_INFO } from '../../providers/registry.js';
import { wrapAgentArgv } from '../agent-process.js';
import type { LaunchContext } from './context.js';

/**
 * Phase `agent`: the CLI runs on the caller's terminal (or headless) until
 * it exits. Budget policies are carried out only while it runs; one that
 * fired finishes before the session goes on.
 */
export async function agent(ctx: LaunchContext): Promise<void> {
  const { req, plan, slug } = ctx;
  const { control } = ctx.need('bottle');
  const command = agentCommand(plan.agent.provider, {
    headless: req.headlessPrompt === undefined ? undefined : { prompt: req.headlessPrompt },
    model: plan.agent.model ?? undefined,
    resume: req.resume !== undefined,
    superviseTimeoutMs: ctx.need('prepared').superviseTimeout,
  });
  ctx.progress(
    `${PROVIDER_INFO[plan.agent.provider].title} is running in bottle ${slug}` +
      (req.tty ? '' : ' (headless)'),
  );
  const out: Buffer[] = [];
  control.armed();
  const r = await ctx.backend.exec(slug, wrapAgentArgv(command.argv), {
    tty: req.tty,
    stdin: req.tty ? 'inherit' : 'ignore',
    ...(command.stdin === undefined ? {} : { input: command.stdin }),
    stdout: req.captureOutput ? 'pipe' : 'inherit',
    stderr: 'inherit',
    user: GUEST_USER,
    workdir: GUEST_WORKSPACE,
    onStdout: (c) => out.push(c),
  });
  control.disarmed();
  await control.idle();
  ctx.checkpoint();
  ctx.set('agent', {
    exitCode: r.code,
    output: req.captureOutput ? Buffer.concat(out).toString('utf8') : undefined,
  });
}
