import { Box, render, Text, useApp, useInput } from 'ink';
import { createElement as h, useEffect, useRef, useState, type ReactElement } from 'react';
import type { CliContext } from '../cli/context.js';
import { services, backendName } from '../cli/services.js';
import { editText, parseValues } from '../cli/operator-input.js';
import { reportAnswer } from '../cli/supervise.js';
import { UsageError } from '../errors.js';
import {
  answerProposal,
  pendingQueue,
  type Decision,
  type PendingItem,
  type QueueView,
} from '../supervise/answer.js';
import { parseRoutesFile } from '../supervise/files.js';

/**
 * `bot-bottle supervise` on a terminal: the pending proposals of every
 * running bottle, oldest first, with the diff of the selected one. A key
 * starts a decision, a few questions finish it (notes, and where it applies),
 * then the app hands the decision out; the caller applies it (opening
 * $EDITOR for modify) and shows the queue again.
 */

interface Question {
  key: string;
  prompt: string;
  yesNo: boolean;
}

export interface TuiDecision {
  item: PendingItem;
  decision: Decision;
  answers: Record<string, string>;
}

/** The questions a decision needs before it can be applied. */
export function questionsFor(item: PendingItem, decision: Decision): Question[] {
  const qs: Question[] = [];
  if (decision !== 'reject' && item.stale) {
    qs.push({
      key: 'force',
      prompt: 'made against an older config: apply anyway? (y/n)',
      yesNo: true,
    });
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

const KEY_DECISION: Record<string, Decision> = { a: 'approve', m: 'modify', r: 'reject' };

function diffColor(l: string): string {
  if (l.startsWith('+') && !l.startsWith('+++')) return 'green';
  if (l.startsWith('-') && !l.startsWith('---')) return 'red';
  return l.startsWith('@@') ? 'cyan' : 'white';
}

function DiffView(props: { diff: string }): ReactElement {
  const lines = props.diff.split('\n').slice(0, 30);
  return h(
    Box,
    { flexDirection: 'column', marginLeft: 2 },
    ...lines.map((l, i) => h(Text, { key: String(i), color: diffColor(l) }, l === '' ? ' ' : l)),
  );
}

export function SuperviseQueue(props: {
  load: () => Promise<QueueView>;
  status: string;
  onDecision: (d: TuiDecision | undefined) => void;
  intervalMs?: number;
}): ReactElement {
  const app = useApp();
  const [view, setView] = useState<QueueView | undefined>(undefined);
  const [sel, setSel] = useState(0);
  type Asking =
    | {
        item: PendingItem;
        decision: Decision;
        qs: Question[];
        answers: Record<string, string>;
        input: string;
      }
    | undefined;
  const [pending, setPendingState] = useState<Asking>(undefined);
  // Keys can arrive faster than renders (typing, paste): read and write through a ref.
  const pendingRef = useRef<Asking>(undefined);
  const setPending = (v: Asking): void => {
    pendingRef.current = v;
    setPendingState(v);
  };

  useEffect(() => {
    let alive = true;
    const tick = (): void => {
      void props.load().then((v) => {
        if (alive) setView(v);
      });
    };
    tick();
    const t = setInterval(tick, props.intervalMs ?? 1000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, []);

  const items = view?.items ?? [];
  const current = items[Math.min(sel, Math.max(0, items.length - 1))];

  const finish = (d: TuiDecision | undefined): void => {
    props.onDecision(d);
    app.exit();
  };

  useInput((input, key) => {
    const pending = pendingRef.current;
    if (pending !== undefined) {
      const q = pending.qs[0];
      if (q === undefined) return;
      if (key.escape) {
        setPending(undefined);
        return;
      }
      const answer = (value: string): void => {
        const answers = { ...pending.answers, [q.key]: value };
        const rest = pending.qs.slice(1);
        if (rest.length === 0) finish({ item: pending.item, decision: pending.decision, answers });
        else setPending({ ...pending, qs: rest, answers, input: '' });
      };
      if (q.yesNo) {
        if (input === 'y' || input === 'n') answer(input);
        return;
      }
      // A fast typist or tmux can deliver text and Enter in one chunk.
      const line = /^([^\r\n]*)[\r\n]/.exec(input);
      if (key.return) answer(pending.input);
      else if (line !== null) answer(pending.input + (line[1] ?? ''));
      else if (key.backspace || key.delete)
        setPending({ ...pending, input: pending.input.slice(0, -1) });
      else if (input !== '' && !key.ctrl && !key.meta)
        setPending({ ...pending, input: pending.input + input });
      return;
    }
    if (input === 'q' || key.escape) finish(undefined);
    else if (key.upArrow || input === 'k') setSel((s) => Math.max(0, s - 1));
    else if (key.downArrow || input === 'j') setSel((s) => Math.min(items.length - 1, s + 1));
    else if (current !== undefined && KEY_DECISION[input] !== undefined) {
      const decision = KEY_DECISION[input];
      setPending({
        item: current,
        decision,
        qs: questionsFor(current, decision),
        answers: {},
        input: '',
      });
    }
  });

  const header = h(
    Text,
    { bold: true },
    `bot-bottle supervise: ${items.length} pending`,
    view === undefined ? ' (loading)' : '',
  );
  const list = items.map((it, i) =>
    h(
      Box,
      { key: it.proposal.id, gap: 1 },
      h(Text, { color: 'cyan' }, i === sel ? '›' : ' '),
      h(Text, { bold: i === sel }, it.slug),
      h(Text, {}, it.proposal.tool),
      h(Text, { dimColor: true }, it.proposal.arrivalTimestamp.slice(11, 19)),
      it.stale ? h(Text, { color: 'yellow' }, 'STALE') : null,
    ),
  );
  const detail =
    current === undefined
      ? h(Text, { dimColor: true }, 'no proposal is waiting; agents ask with the supervise tools')
      : h(
          Box,
          { flexDirection: 'column' },
          h(Text, {}, `why: ${current.proposal.justification}`),
          current.stale
            ? h(Text, { color: 'yellow' }, `${current.file} has changed since the agent read it`)
            : null,
          h(DiffView, { diff: current.diff === '' ? '(no change)' : current.diff }),
        );
  const footer =
    pending === undefined
      ? h(Text, { dimColor: true }, 'a approve  m modify ($EDITOR)  r reject  ↑/↓ select  q quit')
      : h(
          Text,
          { color: 'magenta' },
          `${pending.decision}: ${pending.qs[0]?.prompt ?? ''} ${pending.input}`,
        );
  return h(
    Box,
    { flexDirection: 'column' },
    header,
    props.status === '' ? null : h(Text, { color: 'green' }, props.status),
    ...(view?.problems ?? [])
      .slice(0, 3)
      .map((p) => h(Text, { key: p.file, color: 'yellow' }, `skipped ${p.file}: ${p.message}`)),
    ...list,
    h(Text, {}, ' '),
    detail,
    footer,
  );
}

export async function runSuperviseTui(ctx: CliContext): Promise<number> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new UsageError(
      'bot-bottle supervise needs a terminal',
      'use `bot-bottle supervise --json` and `supervise answer`',
    );
  }
  const svc = services(ctx);
  const backend = svc.backend(backendName(ctx));
  let status = '';
  for (;;) {
    let chosen: TuiDecision | undefined;
    const app = render(
      h(SuperviseQueue, {
        load: () => pendingQueue(ctx.env, backend),
        status,
        onDecision: (d) => {
          chosen = d;
        },
      }),
    );
    await app.waitUntilExit();
    app.cleanup();
    const d: TuiDecision | undefined = chosen;
    if (d === undefined) return 0;
    const a = d.answers;
    const values = parseValues(
      Object.entries(a)
        .filter(([k, v]) => k.startsWith('value:') && v !== '')
        .map(([k, v]) => `${k.slice(6)}=${v}`),
    );
    try {
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
      status = `${r.status} ${r.slug} ${r.component} (${r.applied})`;
    } catch (e) {
      status = `not applied: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
}
