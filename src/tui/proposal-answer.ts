import { Box, Text, type Key } from 'ink';
import { createElement as h, useRef, useState, type ReactElement } from 'react';
import type { Backend } from '../backend/backend.js';
import type { CliContext } from '../cli/context.js';
import { editText, parseValues } from '../cli/operator-input.js';
import { services } from '../cli/services.js';
import { reportAnswer } from '../cli/supervise.js';
import { answerProposal, type Decision, type PendingItem } from '../supervise/answer.js';
import { parseRoutesFile } from '../supervise/files.js';

/**
 * Answering a proposal from a terminal view, shared by `supervise` and
 * `dashboard`: the keys that start a decision, the questions that finish it
 * (stale confirmation, rebuild, credential values, scope, notes), the
 * proposal's detail, and applying the decision once the view has let go of
 * the terminal (modify opens $EDITOR; a `?` value asks on the terminal).
 */

export interface Question {
  key: string;
  prompt: string;
  yesNo: boolean;
}

export interface TuiDecision {
  item: PendingItem;
  decision: Decision;
  answers: Record<string, string>;
}

export const KEY_DECISION: Readonly<Record<string, Decision>> = {
  a: 'approve',
  m: 'modify',
  r: 'reject',
};

export const STALE_PROMPT = 'made against an older config: apply anyway? (y/n)';

/** The questions a decision needs before it can be applied. */
export function questionsFor(item: PendingItem, decision: Decision): Question[] {
  const qs: Question[] = [];
  if (decision !== 'reject' && item.stale) {
    qs.push({ key: 'force', prompt: STALE_PROMPT, yesNo: true });
  }
  if (decision !== 'reject' && item.component === 'capability') {
    qs.push({
      key: 'rebuild',
      prompt: 'rebuild the bottle now? (y: now, n: at its next resume)',
      yesNo: true,
    });
  }
  if (decision === 'approve' && item.component === 'routes') {
    let current: Set<string>;
    try {
      current = new Set(
        parseRoutesFile(item.current).flatMap((r) => r.headers.map((x) => `${r.host} ${x.name}`)),
      );
    } catch {
      current = new Set();
    }
    for (const r of parseRoutesFile(item.proposal.proposedFile)) {
      for (const x of r.headers) {
        const key = `${r.host} ${x.name}`;
        if (!current.has(key)) {
          qs.push({
            key: `value:${key}`,
            prompt: `value source for ${key} (env:NAME, file:PATH, cmd:COMMAND):`,
            yesNo: false,
          });
        }
      }
    }
  }
  if (decision !== 'reject' && item.component !== 'capability') {
    qs.push({
      key: 'save',
      prompt: "also save to the bottle's file? (y/n; n: this bottle only)",
      yesNo: true,
    });
  }
  qs.push({ key: 'notes', prompt: 'notes for the agent (Enter for none):', yesNo: false });
  return qs;
}

interface Asking {
  item: PendingItem;
  decision: Decision;
  qs: Question[];
  answers: Record<string, string>;
  input: string;
}

export interface DecisionQuestions {
  /** The line to show while asking (undefined: not asking). */
  prompt: string | undefined;
  start: (item: PendingItem, decision: Decision) => void;
  /** Feed a key; true when it was for the questions. */
  handle: (input: string, key: Key) => boolean;
}

/**
 * The question-by-question state of a decision. `done` gets the finished
 * decision; `cancelled` a reason (Esc, or n to applying a stale proposal).
 */
export function useDecisionQuestions(
  done: (d: TuiDecision) => void,
  cancelled: (why: string) => void,
): DecisionQuestions {
  const [asking, setAskingState] = useState<Asking | undefined>(undefined);
  // Keys can arrive faster than renders (typing, paste): read and write through a ref.
  const ref = useRef<Asking | undefined>(undefined);
  const set = (v: Asking | undefined): void => {
    ref.current = v;
    setAskingState(v);
  };
  const handle = (input: string, key: Key): boolean => {
    const a = ref.current;
    if (a === undefined) return false;
    const q = a.qs[0];
    if (q === undefined) return true;
    if (key.escape) {
      set(undefined);
      cancelled(`${a.decision} cancelled`);
      return true;
    }
    const answer = (value: string): void => {
      if (q.key === 'force' && value !== 'y') {
        set(undefined);
        cancelled(`not applied: ${a.item.proposal.id} was made against an older ${a.item.file}`);
        return;
      }
      const answers = { ...a.answers, [q.key]: value };
      const rest = a.qs.slice(1);
      if (rest.length === 0) {
        set(undefined);
        done({ item: a.item, decision: a.decision, answers });
      } else set({ ...a, qs: rest, answers, input: '' });
    };
    if (q.yesNo) {
      if (input === 'y' || input === 'n') answer(input);
      return true;
    }
    // A fast typist or tmux can deliver text and Enter in one chunk.
    const line = /^([^\r\n]*)[\r\n]/.exec(input);
    if (key.return) answer(a.input);
    else if (line !== null) answer(a.input + (line[1] ?? ''));
    else if (key.backspace || key.delete) set({ ...a, input: a.input.slice(0, -1) });
    else if (input !== '' && !key.ctrl && !key.meta) set({ ...a, input: a.input + input });
    return true;
  };
  return {
    prompt:
      asking === undefined
        ? undefined
        : `${asking.decision}: ${asking.qs[0]?.prompt ?? ''} ${asking.input}`,
    start: (item, decision) => {
      set({ item, decision, qs: questionsFor(item, decision), answers: {}, input: '' });
    },
    handle,
  };
}

function diffColor(l: string): string {
  if (l.startsWith('+') && !l.startsWith('+++')) return 'green';
  if (l.startsWith('-') && !l.startsWith('---')) return 'red';
  return l.startsWith('@@') ? 'cyan' : 'white';
}

export function DiffView(props: { diff: string; lines?: number }): ReactElement {
  const lines = props.diff.split('\n').slice(0, props.lines ?? 30);
  return h(
    Box,
    { flexDirection: 'column', marginLeft: 2 },
    ...lines.map((l, i) => h(Text, { key: String(i), color: diffColor(l) }, l === '' ? ' ' : l)),
  );
}

/** Why the agent asks, whether the config moved under it, and the diff. */
export function ProposalDetail(props: { item: PendingItem; lines?: number }): ReactElement {
  const it = props.item;
  return h(
    Box,
    { flexDirection: 'column' },
    h(Text, {}, `why: ${it.proposal.justification}`),
    it.stale
      ? h(Text, { color: 'yellow' }, `${it.file} has changed since the agent read it`)
      : null,
    h(DiffView, {
      diff: it.diff === '' ? '(no change)' : it.diff,
      ...(props.lines === undefined ? {} : { lines: props.lines }),
    }),
  );
}

/**
 * Apply a decision made in a view, with the terminal back in line mode
 * (the view has exited): modify opens $EDITOR on the proposed file. Prints
 * the outcome as `supervise answer` does and returns a status line.
 */
export async function applyTuiDecision(
  ctx: CliContext,
  backend: Backend,
  d: TuiDecision,
): Promise<string> {
  const svc = services(ctx);
  const a = d.answers;
  try {
    const values = parseValues(
      Object.entries(a)
        .filter(([k, v]) => k.startsWith('value:') && v !== '')
        .map(([k, v]) => `${k.slice(6)}=${v}`),
    );
    const finalFile =
      d.decision === 'modify'
        ? editText(ctx.env, d.item.file, d.item.proposal.proposedFile)
        : undefined;
    const r = await answerProposal({
      env: ctx.env,
      cwd: ctx.cwd,
      backend,
      id: d.item.proposal.id,
      decision: d.decision,
      notes: a.notes ?? '',
      finalFile,
      values,
      scope: a.save === 'y' ? 'bottle-file' : 'run',
      rebuild: a.rebuild === 'y' ? 'now' : 'next-launch',
      force: a.force === 'y',
      ask: (q) => svc.ui.secret(q),
      progress: (l) => {
        ctx.io.err(`bot-bottle: ${l}`);
      },
    });
    reportAnswer(ctx, r, false);
    return `${r.status} ${r.slug} ${r.component} (${r.applied})`;
  } catch (e) {
    return `not applied: ${e instanceof Error ? e.message : String(e)}`;
  }
}
