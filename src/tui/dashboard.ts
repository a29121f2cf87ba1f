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
import type { FleetView, LaunchRow } from '../controller/fleet.js';
import { shortTokens } from '../util/tokens.js';

/**
 * The live host view: every running bottle with its usage against its
 * effective budget, its rate and its last enforcement action, refreshed from
 * the ledger and the engine; keys act on the selected bottle. Rendering
 * only: loading and acting are passed in.
 */

export type DashboardAction = OperatorAction;

export interface DashboardProps {
  load: () => Promise<FleetView>;
  /** Carries out an action; resolves to a line for the status bar. */
  act: (action: DashboardAction, row: LaunchRow) => Promise<string>;
  intervalMs?: number;
}

const BAR = 24;

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

function Row(props: { row: LaunchRow; selected: boolean }): ReactElement {
  const r = props.row;
  const b = r.budget === null ? undefined : bar(r.budget.used, r.budget.limit);
  const last = [
    r.redactions === 0 ? '' : `${r.redactions} redacted`,
    r.lastAction === null ? '' : `${r.lastAction.action} (${r.lastAction.scope})`,
  ]
    .filter((s) => s !== '')
    .join(' · ');
  return h(
    Box,
    { gap: 1 },
    h(Text, { color: 'cyan' }, props.selected ? '›' : ' '),
    h(Box, { width: 20 }, h(Text, { bold: props.selected, wrap: 'truncate' }, r.slug)),
    h(Box, { width: 10 }, h(Text, { wrap: 'truncate' }, r.agent)),
    h(
      Box,
      { width: 16 },
      h(
        Text,
        { color: r.cutOff ? 'red' : r.state === 'running' ? 'green' : 'yellow', wrap: 'truncate' },
        r.cutOff ? `${r.state}, cut off` : r.state,
      ),
    ),
    b === undefined
      ? h(Box, { width: BAR + 18 }, h(Text, { dimColor: true }, 'no budget'))
      : h(
          Box,
          { width: BAR + 18, gap: 1 },
          h(Text, { color: b.color }, b.text),
          h(Text, null, `${shortTokens(r.budget?.used ?? 0)}/${shortTokens(r.budget?.limit ?? 0)}`),
        ),
    // `!N`: calls charged their estimate because their usage could not be read.
    h(
      Box,
      { width: 12 },
      h(
        Text,
        { wrap: 'truncate', ...(r.unmeteredEvents === 0 ? {} : { color: 'yellow' }) },
        `${shortTokens(r.tokens)} own${r.unmeteredEvents === 0 ? '' : ` !${r.unmeteredEvents}`}`,
      ),
    ),
    h(Box, { width: 10 }, h(Text, null, `${shortTokens(r.rate)}/min`)),
    h(Text, { dimColor: true, wrap: 'truncate' }, last),
  );
}

export function Dashboard(props: DashboardProps): ReactElement {
  const { exit } = useApp();
  const [view, setView] = useState<FleetView | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [selected, setSelected] = useState(0);
  const [status, setStatus] = useState('');
  const [confirm, setConfirm] = useState<{ action: DashboardAction; row: LaunchRow } | undefined>(
    undefined,
  );
  const busy = useRef(false);

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

  const rows = (view?.launches ?? []).filter((r) => r.running);
  const current = rows[Math.min(selected, rows.length - 1)];

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

  useInput((input, key) => {
    if (confirm !== undefined) {
      if (input === 'y') run(confirm.action, confirm.row);
      else setStatus('cancelled');
      setConfirm(undefined);
      return;
    }
    if (input === 'q' || key.escape) {
      exit();
      return;
    }
    if (key.upArrow || input === 'k') setSelected((i) => Math.max(0, i - 1));
    if (key.downArrow || input === 'j') setSelected((i) => Math.min(rows.length - 1, i + 1));
    if (current === undefined) return;
    const pick: DashboardAction | undefined =
      input === 'c'
        ? current.cutOff
          ? 'lift'
          : 'cutoff'
        : input === 'f'
          ? 'freeze'
          : input === 'x'
            ? 'kill'
            : input === 's'
              ? 'stop'
              : undefined;
    if (pick === undefined) return;
    if (CONFIRM[pick] !== undefined) {
      setConfirm({ action: pick, row: current });
      setStatus(`${pick} ${current.slug}: ${CONFIRM[pick] ?? ''}? y/n`);
    } else {
      run(pick, current);
    }
  });

  const redacted = rows.reduce((n, r) => n + r.redactions, 0);
  const totals = Object.entries(view?.providers ?? {})
    .map(
      ([p, t]) =>
        `${p} ${shortTokens(t.tokens)}${t.unmeteredEvents === 0 ? '' : ` (${t.unmeteredEvents} unmetered)`}`,
    )
    .join(' · ');
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      { bold: true },
      `bot-bottle dashboard · ${rows.length} running` +
        (view === undefined ? '' : ` · ${view.at.slice(11, 19)} UTC`) +
        (totals === '' ? '' : ` · all-time ${totals}`) +
        (redacted === 0 ? '' : ` · ${redacted} redacted`),
    ),
    error === undefined ? null : h(Text, { color: 'red' }, error),
    rows.length === 0
      ? h(Text, { dimColor: true }, view === undefined ? 'loading…' : 'no running bottles')
      : h(
          Box,
          { flexDirection: 'column', marginTop: 1 },
          ...rows.map((r, i) =>
            h(Row, { key: r.identity, row: r, selected: r === current && i === rows.indexOf(r) }),
          ),
        ),
    rows.some((r) => r.unmeteredEvents > 0)
      ? h(
          Text,
          { color: 'yellow' },
          "!N: N calls whose usage could not be read, each charged its request's estimate (bot-bottle egress log <slug>)",
        )
      : null,
    h(
      Box,
      { marginTop: 1 },
      h(
        Text,
        { dimColor: true },
        '↑/↓ select · c cut off/lift · f freeze · s stop · x kill · q quit',
      ),
    ),
    status === '' ? null : h(Text, { color: 'cyan' }, status),
  );
}
