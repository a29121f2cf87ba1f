import { Box, render, Text, useApp, useInput } from 'ink';
import { createElement as h, useEffect, useRef, useState, type ReactElement } from 'react';
import type { CliContext } from '../cli/context.js';
import { services, backendName } from '../cli/services.js';
import { UsageError } from '../errors.js';
import { pendingQueue, type PendingItem, type QueueView } from '../supervise/answer.js';
import {
  applyTuiDecision,
  KEY_DECISION,
  ProposalDetail,
  useDecisionQuestions,
  type TuiDecision,
} from './proposal-answer.js';

export { questionsFor, type TuiDecision } from './proposal-answer.js';

/**
 * `bot-bottle supervise` on a terminal: the pending proposals of every
 * running bottle, oldest first, with the diff of the selected one; the
 * focused proposal view of the dashboard, with the same keys and
 * questions. A key starts a decision, a few questions finish it, then the
 * app hands the decision out; the caller applies it (opening $EDITOR for
 * modify) and shows the queue again.
 */

export function SuperviseQueue(props: {
  load: () => Promise<QueueView>;
  status: string;
  onDecision: (d: TuiDecision | undefined) => void;
  intervalMs?: number;
}): ReactElement {
  const app = useApp();
  const [view, setView] = useState<QueueView | undefined>(undefined);
  const [sel, setSel] = useState(0);
  const [status, setStatus] = useState(props.status);
  const asking = useDecisionQuestions((d) => {
    finish(d);
  }, setStatus);

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
  // A key can reach the handler of the frame before the one on screen: it reads the newest queue.
  const itemsRef = useRef<PendingItem[]>(items);
  itemsRef.current = items;
  const selRef = useRef(sel);
  const select = (next: number): void => {
    selRef.current = next;
    setSel(next);
  };

  const finish = (d: TuiDecision | undefined): void => {
    props.onDecision(d);
    app.exit();
  };

  useInput((input, key) => {
    if (asking.handle(input, key)) return;
    const queue = itemsRef.current;
    const at = Math.min(selRef.current, Math.max(0, queue.length - 1));
    const chosen = queue[at];
    if (input === 'q' || key.escape) finish(undefined);
    else if (key.upArrow || input === 'k') select(Math.max(0, at - 1));
    else if (key.downArrow || input === 'j') select(Math.min(queue.length - 1, at + 1));
    else if (chosen !== undefined && KEY_DECISION[input] !== undefined) {
      asking.start(chosen, KEY_DECISION[input]);
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
      : h(ProposalDetail, { item: current });
  const footer =
    asking.prompt === undefined
      ? h(Text, { dimColor: true }, 'a approve  m modify ($EDITOR)  r reject  ↑/↓ select  q quit')
      : h(Text, { color: 'magenta' }, asking.prompt);
  return h(
    Box,
    { flexDirection: 'column' },
    header,
    status === '' ? null : h(Text, { color: 'green' }, status),
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
    status = await applyTuiDecision(ctx, backend, d);
  }
}
