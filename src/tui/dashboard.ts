import { Box, Text, useApp, useInput } from 'ink';
import {
  createElement as h,
  useCallback,
  useEffect,
  useRef,
  useState,
  type ReactElement,
} from 'react';
import type { OperatorAction } from '../controller/enforcement.js';
import type { LaunchRow } from '../controller/fleet.js';
import { hostsOf, type OperatorRow, type OperatorView } from '../controller/operator-view.js';
import type { PendingItem } from '../supervise/answer.js';
import { shortTokens } from '../util/tokens.js';
import {
  KEY_DECISION,
  ProposalDetail,
  useDecisionQuestions,
  type TuiDecision,
} from './proposal-answer.js';

/**
 * The one operator view: every bottle with its usage against its effective
 * budget and its rate, what was refused (egress and budget) and redacted,
 * and the proposals it waits on, refreshed live. Keys act on the selected
 * bottle (cut off, freeze, stop, kill) or answer the selected proposal as
 * `supervise` does. Rendering only: loading, acting and applying an answer
 * are passed in.
 */

export type DashboardAction = OperatorAction;

export interface DashboardProps {
  load: () => Promise<OperatorView>;
  /** Carries out an action; resolves to a line for the status bar. */
  act: (action: DashboardAction, row: LaunchRow) => Promise<string>;
  /**
   * A finished answer to a proposal. The view exits so the caller can apply
   * it with the terminal (modify opens $EDITOR), then shows the view again.
   */
  decide: (d: TuiDecision) => void;
  /** The status line to start with (the outcome of the last answer). */
  status?: string;
  /** The entry to select first (a proposal id or a launch identity). */
  select?: string;
  intervalMs?: number;
}

export const KEYS_HELP =
  '↑/↓ select · a approve · m modify ($EDITOR) · r reject · c cutoff/lift · f freeze · s stop · x kill · q quit';

const BAR = 20;

export function bar(used: number, limit: number, width = BAR): { text: string; color: string } {
  const ratio = limit <= 0 ? 1 : used / limit;
  const filled = Math.min(width, Math.round(Math.min(1, ratio) * width));
  return {
    text: `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`,
    color: ratio >= 1 ? 'red' : ratio >= 0.75 ? 'yellow' : 'green',
  };
}

const CONFIRM: Partial<Record<DashboardAction, string>> = {
  kill: 'remove it now, saving nothing',
  freeze: 'save it and remove it (resumable)',
  stop: 'end its agent (work comes home, the bottle is saved)',
};

/** One selectable line: a bottle, or one of its pending proposals. */
export type Entry =
  | { key: string; row: OperatorRow; item?: undefined }
  | { key: string; row: OperatorRow; item: PendingItem };

export function entriesOf(rows: readonly OperatorRow[]): Entry[] {
  return rows.flatMap((row): Entry[] => [
    { key: row.identity, row },
    ...row.pending.map((item) => ({ key: item.proposal.id, row, item })),
  ]);
}

const time = (iso: string): string => iso.slice(11, 19);

interface Selection {
  key: string | undefined;
  index: number;
}

interface Confirm {
  action: DashboardAction;
  row: LaunchRow;
}

/** The selected line: the one with the selected key, else the nearest to where it was. */
function selectedIndex(entries: readonly Entry[], s: Selection): number {
  const byKey = entries.findIndex((e) => e.key === s.key);
  return byKey >= 0 ? byKey : Math.min(s.index, entries.length - 1);
}

/**
 * `egress refused 2, latest 10:01:02 docs.example.com 403: not allowed` and
 * `budget refused 1, latest 10:01:09 cutoff launch:… 19/10`, when there are any.
 */
export function refusalLines(r: OperatorRow): string[] {
  const lines: string[] = [];
  const e = r.egressRefusals;
  if (e !== null && e.count > 0 && e.latest !== null) {
    const l = e.latest;
    const port = l.port === 443 || l.port === 0 ? '' : `:${l.port}`;
    lines.push(
      `egress refused ${e.count}, latest ${time(l.at)} ${l.host}${port} ${l.status}${l.reason === '' ? '' : `: ${l.reason}`}`,
    );
  }
  const a = r.lastAction;
  if (r.enforcements > 0 && a !== null) {
    const counts = a.limit === null ? '' : ` ${shortTokens(a.used)}/${shortTokens(a.limit)}`;
    lines.push(
      `budget refused ${r.enforcements}, latest ${time(a.at)} ${a.action} ${a.scope}${counts}`,
    );
  }
  return lines;
}

/** `3: aws-access-key-id 1, stripe-key 2`. */
export function redactionsText(r: LaunchRow): string {
  const kinds = Object.entries(r.redactionKinds)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`);
  return r.redactions === 0 ? '' : `${r.redactions}: ${kinds.join(', ')}`;
}

function stateColor(r: LaunchRow): string {
  if (r.cutOff) return 'red';
  if (!r.running) return 'gray';
  return r.state === 'running' ? 'green' : 'yellow';
}

function Usage(props: { row: OperatorRow }): ReactElement {
  const r = props.row;
  const b = r.budget === null ? undefined : bar(r.budget.used, r.budget.limit);
  return b === undefined || r.budget === null
    ? h(Box, { width: BAR + 16 }, h(Text, { dimColor: true }, r.running ? 'no budget' : ''))
    : h(
        Box,
        { width: BAR + 16, gap: 1 },
        h(Text, { color: b.color }, b.text),
        h(Text, null, `${shortTokens(r.budget.used)}/${shortTokens(r.budget.limit)}`),
      );
}

function RowLine(props: { row: OperatorRow; selected: boolean; hosts: boolean }): ReactElement {
  const r = props.row;
  return h(
    Box,
    { gap: 1 },
    h(Text, { color: 'cyan' }, props.selected ? '›' : ' '),
    h(Box, { width: 18 }, h(Text, { bold: props.selected, wrap: 'truncate' }, r.slug)),
    props.hosts ? h(Box, { width: 14 }, h(Text, { wrap: 'truncate' }, r.host ?? '?')) : null,
    h(Box, { width: 8 }, h(Text, { wrap: 'truncate' }, r.agent)),
    h(
      Box,
      { width: 13 },
      h(Text, { color: stateColor(r), wrap: 'truncate' }, r.cutOff ? 'cut off' : r.state),
    ),
    h(Usage, { row: r }),
    // `!N`: calls charged their estimate because their usage could not be read.
    h(
      Box,
      { width: 11 },
      h(
        Text,
        { wrap: 'truncate', ...(r.unmeteredEvents === 0 ? {} : { color: 'yellow' }) },
        `${shortTokens(r.tokens)} own${r.unmeteredEvents === 0 ? '' : ` !${r.unmeteredEvents}`}`,
      ),
    ),
    h(Text, null, r.running ? `${shortTokens(r.rate)}/min` : ''),
  );
}

function RowDetail(props: { row: OperatorRow }): ReactElement | null {
  const refused = refusalLines(props.row);
  const redacted = redactionsText(props.row);
  if (refused.length === 0 && redacted === '') return null;
  return h(
    Box,
    { flexDirection: 'column', marginLeft: 4 },
    ...refused.map((l) => h(Text, { key: l.slice(0, 6), color: 'yellow', wrap: 'truncate' }, l)),
    redacted === '' ? null : h(Text, { dimColor: true, wrap: 'truncate' }, `redacted ${redacted}`),
  );
}

function ProposalLine(props: { item: PendingItem; selected: boolean }): ReactElement {
  const it = props.item;
  return h(
    Box,
    { gap: 1, marginLeft: 2 },
    h(Text, { color: 'cyan' }, props.selected ? '›' : ' '),
    h(Text, { color: 'magenta' }, `? ${it.proposal.tool}`),
    h(Text, { dimColor: true }, time(it.proposal.arrivalTimestamp)),
    it.stale ? h(Text, { color: 'yellow' }, 'STALE') : null,
    h(Text, { wrap: 'truncate' }, it.proposal.justification),
  );
}

/** The bottles, each with its refusals, redactions and pending proposals. */
function Rows(props: {
  view: OperatorView | undefined;
  selected: string | undefined;
}): ReactElement {
  const rows = props.view?.rows ?? [];
  if (rows.length === 0) {
    return h(
      Text,
      { dimColor: true },
      props.view === undefined ? 'loading…' : 'no running bottles',
    );
  }
  const hosts = hostsOf(rows).length > 1;
  return h(
    Box,
    { flexDirection: 'column', marginTop: 1 },
    ...rows.map((r) =>
      h(
        Box,
        { key: r.identity, flexDirection: 'column' },
        h(RowLine, { row: r, selected: props.selected === r.identity, hosts }),
        h(RowDetail, { row: r }),
        ...r.pending.map((it) =>
          h(ProposalLine, {
            key: it.proposal.id,
            item: it,
            selected: props.selected === it.proposal.id,
          }),
        ),
      ),
    ),
  );
}

function headerText(view: OperatorView | undefined, rows: readonly OperatorRow[]): string {
  const running = rows.filter((r) => r.running).length;
  const pending = rows.reduce((n, r) => n + r.pending.length, 0);
  const redacted = rows.reduce((n, r) => n + r.redactions, 0);
  const totals = Object.entries(view?.providers ?? {})
    .map(
      ([p, t]) =>
        `${p} ${shortTokens(t.tokens)}${t.unmeteredEvents === 0 ? '' : ` (${t.unmeteredEvents} unmetered)`}`,
    )
    .join(' · ');
  return (
    `bot-bottle dashboard · ${running} running` +
    (pending === 0 ? '' : ` · ${pending} pending`) +
    (view === undefined ? '' : ` · ${time(view.at)} UTC`) +
    (totals === '' ? '' : ` · all-time ${totals}`) +
    (redacted === 0 ? '' : ` · ${redacted} redacted`)
  );
}

function pickAction(input: string, row: LaunchRow): DashboardAction | undefined {
  if (input === 'c') return row.cutOff ? 'lift' : 'cutoff';
  return ({ f: 'freeze', x: 'kill', s: 'stop' } as Record<string, DashboardAction>)[input];
}

export function Dashboard(props: DashboardProps): ReactElement {
  const { exit } = useApp();
  const [view, setView] = useState<OperatorView | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  // By key, so a refresh that adds or drops lines keeps the selection; the index is the fallback.
  const [sel, setSelState] = useState<Selection>({ key: props.select, index: 0 });
  const [status, setStatus] = useState(props.status ?? '');
  // Keys can arrive faster than renders (a held j, tmux): read and write through refs.
  const selRef = useRef<Selection>(sel);
  const confirmRef = useRef<Confirm | undefined>(undefined);
  const setSel = (v: Selection): void => {
    selRef.current = v;
    setSelState(v);
  };
  // The question itself is on the status line.
  const setConfirm = (v: Confirm | undefined): void => {
    confirmRef.current = v;
  };
  const busy = useRef(false);
  const asking = useDecisionQuestions((d) => {
    props.decide(d);
    exit();
  }, setStatus);

  const refresh = useCallback(() => {
    props.load().then(
      (v) => {
        setView(v);
        setError(undefined);
      },
      (e: unknown) => {
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, [props]);

  useEffect(() => {
    refresh();
    const t = setInterval(refresh, props.intervalMs ?? 1000);
    return () => {
      clearInterval(t);
    };
  }, [refresh, props.intervalMs]);

  const rows = view?.rows ?? [];
  const entries = entriesOf(rows);
  // A key can reach the handler of the frame before the one on screen: it reads the newest lines.
  const entriesRef = useRef<Entry[]>(entries);
  entriesRef.current = entries;
  const current = entries[selectedIndex(entries, sel)];
  // What a/m/r answer: the selected proposal, or the selected bottle's oldest one.
  const proposal = current?.item ?? current?.row.pending[0];

  const run = (action: DashboardAction, row: LaunchRow): void => {
    if (busy.current) return;
    busy.current = true;
    setStatus(`${action} ${row.slug}…`);
    props
      .act(action, row)
      .then(
        (line) => {
          setStatus(line);
        },
        (e: unknown) => {
          setStatus(`${action} ${row.slug} failed: ${e instanceof Error ? e.message : String(e)}`);
        },
      )
      .finally(() => {
        busy.current = false;
        refresh();
      });
  };

  const move = (by: number): void => {
    const lines = entriesRef.current;
    const at = selectedIndex(lines, selRef.current);
    const next = Math.max(0, Math.min(lines.length - 1, at + by));
    setSel({ key: lines[next]?.key, index: next });
  };

  useInput((input, key) => {
    if (asking.handle(input, key)) return;
    const confirming = confirmRef.current;
    if (confirming !== undefined) {
      if (input === 'y') run(confirming.action, confirming.row);
      else setStatus('cancelled');
      setConfirm(undefined);
      return;
    }
    if (input === 'q' || key.escape) {
      exit();
      return;
    }
    if (key.upArrow || input === 'k') move(-1);
    if (key.downArrow || input === 'j') move(1);
    const cur = entriesRef.current[selectedIndex(entriesRef.current, selRef.current)];
    if (cur === undefined) return;
    const decision = KEY_DECISION[input];
    if (decision !== undefined) {
      const answering = cur.item ?? cur.row.pending[0];
      if (answering === undefined) setStatus(`${cur.row.slug} has no pending proposal`);
      else asking.start(answering, decision);
      return;
    }
    const pick = pickAction(input, cur.row);
    if (pick === undefined) return;
    if (!cur.row.running) {
      setStatus(`${cur.row.slug} is not running (${cur.row.state})`);
    } else if (CONFIRM[pick] !== undefined) {
      setConfirm({ action: pick, row: cur.row });
      setStatus(`${pick} ${cur.row.slug}: ${CONFIRM[pick] ?? ''}? y/n`);
    } else {
      run(pick, cur.row);
    }
  });

  return h(
    Box,
    { flexDirection: 'column' },
    h(Text, { bold: true }, headerText(view, rows)),
    error === undefined ? null : h(Text, { color: 'red' }, error),
    view?.warning === undefined ? null : h(Text, { color: 'yellow' }, view.warning),
    ...(view?.problems ?? [])
      .slice(0, 3)
      .map((p) => h(Text, { key: p.file, color: 'yellow' }, `skipped ${p.file}: ${p.message}`)),
    h(Rows, { view, selected: current?.key }),
    rows.some((r) => r.unmeteredEvents > 0)
      ? h(
          Text,
          { color: 'yellow' },
          "!N: N calls whose usage could not be read, each charged its request's estimate (bot-bottle egress log <slug>)",
        )
      : null,
    proposal === undefined
      ? null
      : h(
          Box,
          { flexDirection: 'column', marginTop: 1 },
          h(Text, { bold: true }, `${proposal.slug}: ${proposal.proposal.tool} ${proposal.file}`),
          h(ProposalDetail, { item: proposal, lines: 20 }),
        ),
    h(
      Box,
      { marginTop: 1 },
      asking.prompt === undefined
        ? h(Text, { dimColor: true }, KEYS_HELP)
        : h(Text, { color: 'magenta' }, asking.prompt),
    ),
    status === '' ? null : h(Text, { color: 'cyan' }, status),
  );
}
