import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { splitCommand } from '../manifest/sentinel.js';
import type { RebuildWhen, Scope } from '../supervise/apply.js';
import {
  answerProposal,
  operatorEdit,
  pendingQueue,
  type AnswerResult,
  type Decision,
  type PendingItem,
} from '../supervise/answer.js';
import { FILE_FOR_COMPONENT } from '../supervise/files.js';
import { readCurrentFile } from '../supervise/host.js';
import type { CliContext } from './context.js';
import { findActive } from './find.js';
import { printJson } from './output.js';
import { services } from './services.js';

export interface AnswerOptions {
  notes?: string;
  file?: string;
  value: string[];
  saveToBottleFile?: boolean;
  rebuild?: string;
  force?: boolean;
  json?: boolean;
}

/** `--value 'HOST HEADER=SOURCE'`, repeatable. */
export function parseValues(raw: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of raw) {
    const m = /^\s*(\S+)\s+([^\s=]+)=(.+)$/.exec(v);
    if (m === null) {
      throw new UsageError(
        `--value ${JSON.stringify(v)}: expected 'HOST HEADER=SOURCE', e.g. 'api.github.com authorization=env:GH_TOKEN'`,
      );
    }
    out.set(`${(m[1] ?? '').toLowerCase()} ${(m[2] ?? '').toLowerCase()}`, m[3] ?? '');
  }
  return out;
}

function parseRebuild(raw: string | undefined): RebuildWhen {
  if (raw === undefined || raw === 'next-launch') return 'next-launch';
  if (raw === 'now') return 'now';
  throw new UsageError(`--rebuild: expected now or next-launch, got ${JSON.stringify(raw)}`);
}

function readFileArg(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Open the operator's editor on `text`; returns the edited text (the same text: no change). */
export function editText(env: NodeJS.ProcessEnv, name: string, text: string): string {
  const editor = env.VISUAL ?? env.EDITOR ?? 'vi';
  const argv = splitCommand(editor);
  const dir = mkdtempSync(join(tmpdir(), 'bot-bottle-edit-'));
  const file = join(dir, name);
  try {
    writeFileSync(file, text, { mode: 0o600 });
    const r = spawnSync(argv[0] ?? 'vi', [...argv.slice(1), file], { stdio: 'inherit', env });
    if (r.error !== undefined || r.status !== 0) {
      throw new UsageError(
        `the editor (${editor}) ${r.error === undefined ? `exited with ${r.status ?? r.signal}` : `could not start: ${r.error.message}`}; nothing was changed`,
        'set EDITOR (or VISUAL) to your editor',
      );
    }
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

export async function runSuperviseAnswer(
  ctx: CliContext,
  id: string,
  decision: string,
  opts: AnswerOptions,
): Promise<number> {
  if (decision !== 'approve' && decision !== 'modify' && decision !== 'reject') {
    throw new UsageError(`expected approve, modify or reject, got ${JSON.stringify(decision)}`);
  }
  if (decision !== 'modify' && opts.file !== undefined) {
    throw new UsageError('--file is for modify: the file to apply instead of the proposal');
  }
  const svc = services(ctx);
  const backend = svc.backend('docker');
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

export async function runSuperviseList(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const svc = services(ctx);
  const q = await pendingQueue(ctx.env, svc.backend('docker'));
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

/** `egress edit` / `routes edit`: the operator's own change through the proposal checks and the audit log. */
export async function runConfigEdit(
  ctx: CliContext,
  component: 'egress' | 'routes',
  slug: string,
  opts: {
    file?: string;
    notes?: string;
    value: string[];
    saveToBottleFile?: boolean;
    json?: boolean;
  },
): Promise<number> {
  const svc = services(ctx);
  const backend = svc.backend('docker');
  const active = await findActive(backend, slug);
  const name = FILE_FOR_COMPONENT[component];
  const current = readCurrentFile(ctx.env, slug, name);
  let text: string;
  if (opts.file !== undefined) text = readFileArg(opts.file);
  else if (svc.interactive) text = editText(ctx.env, name, current);
  else throw new UsageError(`without a terminal, give the new ${name} with --file PATH`);
  if (text === current) {
    ctx.io.err(`bot-bottle: ${name} unchanged; nothing to do`);
    return 0;
  }
  const scope: Scope = opts.saveToBottleFile === true ? 'bottle-file' : 'run';
  const r = await operatorEdit({
    env: ctx.env,
    cwd: ctx.cwd,
    backend,
    slug,
    identity: active.identity,
    component,
    text,
    notes: opts.notes ?? '',
    values: parseValues(opts.value),
    scope,
    ask: svc.interactive ? (q) => svc.ui.secret(q) : undefined,
  });
  if (opts.json === true) printJson(ctx.io, { slug, component, ...r });
  else {
    ctx.io.out(r.diff);
    ctx.io.out(
      `${slug}: ${name} ${r.applied === 'bottle-file' ? 'changed and saved to the bottle file' : 'changed'}; ${r.notes.join('; ')}`,
    );
    ctx.io.out(`  audit: ${r.auditLog}`);
  }
  return 0;
}
