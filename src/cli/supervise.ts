import { UsageError } from '../errors.js';
import type { RebuildWhen } from '../supervise/apply.js';
import {
  answerProposal,
  pendingQueue,
  type AnswerResult,
  type Decision,
  type PendingItem,
} from '../supervise/answer.js';
import { collect, exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { editText, parseValues, readFileArg } from './operator-input.js';
import { printJson } from './output.js';
import { services, backendName } from './services.js';

function parseRebuild(raw: string | undefined): RebuildWhen {
  if (raw === undefined || raw === 'next-launch') return 'next-launch';
  if (raw === 'now') return 'now';
  throw new UsageError(`--rebuild: expected now or next-launch, got ${JSON.stringify(raw)}`);
}

export function reportAnswer(ctx: CliContext, r: AnswerResult, json: boolean): void {
  if (json) {
    printJson(ctx.io, r);
    return;
  }
  ctx.io.out(
    `${r.id} (${r.slug}, ${r.component}): ${r.status}${r.stale ? ' (made against an older config)' : ''}`,
  );
  if (r.applied !== 'none') ctx.io.out(`  applied: ${r.applied}`);
  if (r.notes !== '') ctx.io.out(`  told the agent: ${r.notes}`);
  ctx.io.out(`  audit: ${r.auditLog}`);
}

function defineAnswer(supervise: Program) {
  return supervise
    .command('answer')
    .description('answer one proposal (ids from bot-bottle supervise --json)')
    .argument('<id>', 'the proposal id')
    .argument('<decision>', 'approve, modify or reject')
    .option('--notes <text>', 'returned to the agent with the answer, and kept in the audit log')
    .option(
      '--file <path>',
      'modify: the file to apply instead of the proposal (without it: $EDITOR)',
    )
    .option(
      '--value <host header=source>',
      "routes: where a new header's value comes from, e.g. 'api.github.com authorization=env:GH_TOKEN' (env:, file:, cmd:, ?); repeatable",
      collect,
      [],
    )
    .option('--save-to-bottle-file', "egress/routes: also write the change into the bottle's file")
    .option(
      '--rebuild <when>',
      'capability: now (freeze, rebuild, resume; workspace and session kept) or next-launch',
      'next-launch',
    )
    .option('--force', 'approve a proposal made against a config that has changed since')
    .option('--json', 'print the outcome as JSON');
}

async function runSuperviseAnswer(
  ctx: CliContext,
  id: string,
  decision: string,
  opts: OptionsOf<typeof defineAnswer>,
): Promise<number> {
  if (decision !== 'approve' && decision !== 'modify' && decision !== 'reject') {
    throw new UsageError(`expected approve, modify or reject, got ${JSON.stringify(decision)}`);
  }
  if (decision !== 'modify' && opts.file !== undefined) {
    throw new UsageError('--file is for modify: the file to apply instead of the proposal');
  }
  const svc = services(ctx);
  const backend = svc.backend(backendName(ctx));
  let finalFile = opts.file === undefined ? undefined : readFileArg(opts.file);
  if (decision === 'modify' && finalFile === undefined) {
    if (!svc.interactive) {
      throw new UsageError('modify without a terminal needs --file PATH (the file to apply)');
    }
    const item = (await pendingQueue(ctx.env, backend)).items.find((i) => i.proposal.id === id);
    if (item === undefined) throw new UsageError(`no pending proposal ${id}`);
    finalFile = editText(ctx.env, item.file, item.proposal.proposedFile);
  }
  const r = await answerProposal({
    env: ctx.env,
    cwd: ctx.cwd,
    backend,
    id,
    decision: decision satisfies Decision,
    notes: opts.notes ?? '',
    finalFile,
    values: parseValues(opts.value),
    scope: opts.saveToBottleFile === true ? 'bottle-file' : 'run',
    rebuild: parseRebuild(opts.rebuild),
    force: opts.force === true,
    ask: svc.interactive ? (q) => svc.ui.secret(q) : undefined,
    progress: (l) => {
      ctx.io.err(`bot-bottle: ${l}`);
    },
  });
  reportAnswer(ctx, r, opts.json === true);
  return 0;
}

export function itemJson(i: PendingItem): Record<string, unknown> {
  return {
    id: i.proposal.id,
    slug: i.slug,
    identity: i.identity,
    tool: i.proposal.tool,
    component: i.component,
    file: i.file,
    arrivedAt: i.proposal.arrivalTimestamp,
    justification: i.proposal.justification,
    proposedFile: i.proposal.proposedFile,
    stale: i.stale,
    diff: i.diff,
  };
}

function defineList(program: Program) {
  return program
    .command('supervise')
    .description(
      'the access requests agents made through the supervise tools: review and approve, modify or reject',
    )
    .option('--json', 'print the pending proposals (with diffs) as JSON instead of opening the TUI')
    .addHelpText(
      'after',
      `
An agent in a supervised bottle asks for access with the MCP tools
egress-block (hosts), cred-proxy-block (credential routes: hosts and header
names; you choose the values) and capability-block (Dockerfile lines). Its
call waits for your answer. On a terminal this opens a queue of every
running bottle's proposals, oldest first, each with its diff against the
config in force: a approve, m modify (opens $EDITOR), r reject (with notes).
\`bot-bottle dashboard\` shows the same proposals under each bottle, next to
its usage, refusals and redactions, and answers them with the same keys.

An approval takes effect before the agent hears of it: egress and route
changes apply live (open connections kept) and are kept by resume;
capability lines are built into the image now (freeze, rebuild, resume) or
at the bottle's next resume. Every decision is appended to
~/.bot-bottle/audit/<slug>.jsonl.

Examples:
  bot-bottle supervise
  bot-bottle supervise --json
  bot-bottle supervise answer <id> approve --notes 'ok for this task'
  bot-bottle supervise answer <id> approve --value 'api.github.com authorization=cmd:gh auth token'
  bot-bottle supervise answer <id> modify --file ./egress.yaml --save-to-bottle-file
  bot-bottle supervise answer <id> approve --rebuild now
  bot-bottle supervise answer <id> reject --notes 'use the internal mirror instead'`,
    );
}

/** `bot-bottle supervise` (the queue) and `supervise answer`. */
export function register(program: Program, ctx: CliContext): void {
  const supervise = defineList(program).action(async (opts) =>
    exit(await runSuperviseList(ctx, opts)),
  );
  defineAnswer(supervise).action(async (id, decision, opts) =>
    exit(await runSuperviseAnswer(ctx, id, decision, opts)),
  );
}

async function runSuperviseList(
  ctx: CliContext,
  opts: OptionsOf<typeof defineList>,
): Promise<number> {
  const svc = services(ctx);
  const q = await pendingQueue(ctx.env, svc.backend(backendName(ctx)));
  if (opts.json === true) {
    printJson(ctx.io, { pending: q.items.map(itemJson), problems: q.problems });
    return 0;
  }
  if (svc.interactive) {
    const { runSuperviseTui } = await import('../tui/supervise.js');
    return runSuperviseTui(ctx);
  }
  throw new UsageError(
    'bot-bottle supervise needs a terminal',
    'use `bot-bottle supervise --json` and `bot-bottle supervise answer <id> approve|modify|reject`',
  );
}
