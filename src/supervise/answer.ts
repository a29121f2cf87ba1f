import { join } from 'node:path';
import type { ActiveBottle, Backend } from '../backend/backend.js';
import { freezeBottle } from '../controller/enforcement.js';
import { loadSaved } from '../controller/state.js';
import type { SecretAsker } from '../controller/values.js';
import { UsageError } from '../errors.js';
import {
  applyChange,
  type ApplyRequest,
  type ApplyResult,
  type RebuildWhen,
  type Scope,
} from './apply.js';
import { appendAudit, operatorName, type AuditEntry, type Component } from './audit.js';
import { renderDiff, sha256Hex } from './diff.js';
import { COMPONENT_FOR_TOOL, FILE_FOR_COMPONENT, validateProposal } from './files.js';
import { readCurrentFile } from './host.js';
import { queueDir } from './paths.js';
import {
  claimProposal,
  listPending,
  readClaim,
  readProposal,
  readResponse,
  releaseClaim,
  writeResponse,
  type Proposal,
  type QueueProblem,
} from './queue.js';

/**
 * The operator's side of the queue, shared by `supervise answer`, the
 * supervise TUI and `egress|routes edit`: check, apply, audit, answer. An
 * approval is applied before the answer is written, so the agent hears
 * "approved" only when the change is in force; a failed apply answers
 * nothing and leaves the proposal pending.
 */

export type Decision = 'approve' | 'modify' | 'reject';

export interface PendingItem {
  proposal: Proposal;
  slug: string;
  identity: string;
  component: Component;
  file: string;
  /** The config file in force now. */
  current: string;
  /** The proposed file as it would be in force (capability: current + additions). */
  proposedFull: string;
  diff: string;
  /** The config changed since the agent read it. */
  stale: boolean;
}

export interface QueueView {
  items: PendingItem[];
  problems: QueueProblem[];
}

function fullText(component: Component, current: string, proposed: string): string {
  if (component !== 'capability') return proposed;
  return `${current.trimEnd()}\n${proposed.trimEnd()}\n`;
}

export function describeItem(env: NodeJS.ProcessEnv, b: ActiveBottle, p: Proposal): PendingItem {
  const component = COMPONENT_FOR_TOOL[p.tool];
  const file = FILE_FOR_COMPONENT[component];
  const current = readCurrentFile(env, b.slug, file);
  const proposedFull = fullText(component, current, p.proposedFile);
  return {
    proposal: p,
    slug: b.slug,
    identity: b.identity,
    component,
    file,
    current,
    proposedFull,
    diff: renderDiff(current, proposedFull, file),
    stale: sha256Hex(current) !== p.currentFileHash,
  };
}

/** Pending proposals of every running bottle, oldest first across bottles. */
export async function pendingQueue(env: NodeJS.ProcessEnv, backend: Backend): Promise<QueueView> {
  return pendingOf(env, await backend.enumerateActive());
}

/** The same for bottles already listed (a view that lists them once per refresh). */
export function pendingOf(env: NodeJS.ProcessEnv, active: readonly ActiveBottle[]): QueueView {
  const items: PendingItem[] = [];
  const problems: QueueProblem[] = [];
  for (const b of active) {
    const q = listPending(queueDir(env, b.slug), b.slug);
    problems.push(...q.problems);
    for (const p of q.proposals) items.push(describeItem(env, b, p));
  }
  items.sort((a, b) => a.proposal.arrivalTimestamp.localeCompare(b.proposal.arrivalTimestamp));
  return { items, problems };
}

export interface AnswerRequest {
  env: NodeJS.ProcessEnv;
  cwd: string;
  backend: Backend;
  id: string;
  decision: Decision;
  notes: string;
  /** For modify: the file the operator wants in force instead. */
  finalFile?: string | undefined;
  values: ReadonlyMap<string, string>;
  scope: Scope;
  rebuild: RebuildWhen;
  /** Approve a proposal made against a config that has changed since. */
  force: boolean;
  ask: SecretAsker | undefined;
  progress: (line: string) => void;
}

export interface AnswerResult {
  id: string;
  slug: string;
  component: Component;
  status: 'approved' | 'modified' | 'rejected';
  applied: string;
  stale: boolean;
  diff: string;
  notes: string;
  auditLog: string;
}

function alreadyAnswered(dir: string, id: string): UsageError {
  const claim = readClaim(dir, id) ?? readClaim(join(dir, 'processed'), id);
  const by =
    claim === undefined
      ? ''
      : claim.by === 'timeout'
        ? ' (it timed out)'
        : ` (by ${claim.by}, pid ${claim.pid}, at ${claim.at})`;
  return new UsageError(
    `proposal ${id} has already been answered${by}; this answer was not applied`,
    '`bot-bottle supervise --json` lists the proposals still pending',
  );
}

async function findItem(
  env: NodeJS.ProcessEnv,
  backend: Backend,
  id: string,
): Promise<PendingItem> {
  const active = await backend.enumerateActive();
  for (const b of active) {
    const dir = queueDir(env, b.slug);
    const p = readProposal(dir, id);
    if ('problem' in p) continue;
    if (readResponse(dir, id) !== undefined) throw alreadyAnswered(dir, id);
    return describeItem(env, b, p);
  }
  throw new UsageError(
    `no pending proposal ${id} in a running bottle`,
    '`bot-bottle supervise --json` lists pending proposals',
  );
}

/** Append a decision to the audit log, stamped with the time and the operator. */
function recordDecision(
  env: NodeJS.ProcessEnv,
  e: Omit<AuditEntry, 'timestamp' | 'operator'>,
): Promise<string> {
  return appendAudit(env, {
    ...e,
    timestamp: new Date().toISOString(),
    operator: operatorName(env),
  });
}

/** Apply with the plan the bottle was launched with (its saved record). */
function applyWithSavedPlan(req: Omit<ApplyRequest, 'plan'>): Promise<ApplyResult> {
  const saved = loadSaved(req.env, req.identity);
  if (saved === undefined) {
    throw new UsageError(`bottle ${req.slug} has no saved record (${req.identity}); cannot apply`);
  }
  return applyChange({ ...req, plan: saved.plan });
}

/**
 * Answer one proposal. The right to answer is claimed first (an exclusive
 * file in the queue), so of two answers racing (the TUI and a script, or an
 * answer and the sidecar's timeout) exactly one is applied and written; the
 * other is refused as already answered. An answer that fails before it is
 * written gives the claim back and leaves the proposal pending.
 */
export async function answerProposal(req: AnswerRequest): Promise<AnswerResult> {
  const item = await findItem(req.env, req.backend, req.id);
  const dir = queueDir(req.env, item.slug);
  if (!claimProposal(dir, item.proposal.id, operatorName(req.env))) {
    throw alreadyAnswered(dir, item.proposal.id);
  }
  const answer = { written: false };
  try {
    return await answerClaimed(req, item, () => {
      answer.written = true;
    });
  } finally {
    if (!answer.written) releaseClaim(dir, item.proposal.id);
  }
}

async function answerClaimed(
  req: AnswerRequest,
  item: PendingItem,
  onWritten: () => void,
): Promise<AnswerResult> {
  const { proposal: p } = item;
  const status: AnswerResult['status'] =
    req.decision === 'approve' ? 'approved' : req.decision === 'modify' ? 'modified' : 'rejected';
  const dir = queueDir(req.env, item.slug);
  const base = {
    bottleSlug: item.slug,
    identity: item.identity,
    component: item.component,
    proposalId: p.id,
    justification: p.justification,
    stale: item.stale,
    action: status,
    notes: req.notes,
  };
  const answered = (
    fields: Pick<AnswerResult, 'applied' | 'diff' | 'notes' | 'auditLog'>,
  ): AnswerResult => ({
    id: p.id,
    slug: item.slug,
    component: item.component,
    status,
    stale: item.stale,
    ...fields,
  });
  if (req.decision === 'reject') {
    const auditLog = await recordDecision(req.env, { ...base, diff: item.diff, applied: 'none' });
    writeResponse(dir, { proposalId: p.id, status, notes: req.notes, finalFile: null });
    onWritten();
    return answered({ applied: 'none', diff: item.diff, notes: req.notes, auditLog });
  }
  if (item.stale && !req.force) {
    throw new UsageError(
      `proposal ${p.id} was made against an older ${item.file} (it has changed since the agent read it)`,
      'review the diff against the current file, then answer modify with a corrected file, reject, or approve with --force',
    );
  }
  let final = p.proposedFile;
  if (req.decision === 'modify') {
    if (req.finalFile === undefined)
      throw new UsageError('modify needs the file to apply (--file PATH)');
    final = req.finalFile;
  }
  validateProposal(p.tool, final);
  const result = await applyWithSavedPlan({
    env: req.env,
    cwd: req.cwd,
    backend: req.backend,
    slug: item.slug,
    identity: item.identity,
    component: item.component,
    finalText: final,
    values: req.values,
    scope: req.scope,
    rebuild: req.rebuild,
    ask: req.ask,
  });
  const diff = renderDiff(item.current, fullText(item.component, item.current, final), item.file);
  const notes = [req.notes, ...result.notes].filter((n) => n !== '').join('; ');
  const auditLog = await recordDecision(req.env, { ...base, diff, applied: result.applied });
  writeResponse(dir, { proposalId: p.id, status, notes, finalFile: final });
  onWritten();
  if (result.freeze) {
    // Let the sidecar hand the answer to the agent before its bottle stops.
    await waitAnswered(dir, p.id, 5_000);
    req.progress(`freezing ${item.slug} to rebuild it`);
    await freezeBottle(req.backend, req.env, item.slug, item.identity, req.progress);
  }
  return answered({ applied: result.applied, diff, notes, auditLog });
}

async function waitAnswered(dir: string, id: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && readResponse(dir, id) !== undefined) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // The agent CLI records the tool result; give it a moment before the freeze.
  await new Promise((r) => setTimeout(r, 1_000));
}

/** `egress edit` / `routes edit`: the operator's own change, same checks, same audit. */
export async function operatorEdit(req: {
  env: NodeJS.ProcessEnv;
  cwd: string;
  backend: Backend;
  slug: string;
  identity: string;
  component: 'egress' | 'routes';
  text: string;
  notes: string;
  values: ReadonlyMap<string, string>;
  scope: Scope;
  ask: SecretAsker | undefined;
}): Promise<{ diff: string; applied: string; notes: string[]; auditLog: string }> {
  const file = FILE_FOR_COMPONENT[req.component];
  const current = readCurrentFile(req.env, req.slug, file);
  validateProposal(req.component === 'egress' ? 'egress-block' : 'cred-proxy-block', req.text);
  const result = await applyWithSavedPlan({ ...req, finalText: req.text, rebuild: 'next-launch' });
  const diff = renderDiff(current, req.text, file);
  const auditLog = await recordDecision(req.env, {
    bottleSlug: req.slug,
    identity: req.identity,
    component: req.component,
    action: 'operator-edit',
    proposalId: null,
    notes: req.notes,
    justification: '',
    diff,
    stale: false,
    applied: result.applied,
  });
  return { diff, applied: result.applied, notes: result.notes, auditLog };
}
