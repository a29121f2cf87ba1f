import { join } from 'node:path';
import { botBottleHome } from '../paths.js';
import type { EnforcementAction, RedactionEvent, UsageEvent } from './types.js';

/**
 * The spool's file format, as pure functions: one ledger write a line, in
 * JSON. A line is appended whole and synced, so only the last line can be
 * torn (the process died while writing it); it is ignored on read.
 */

export type SpoolEntry =
  | { op: 'settle'; reservation: string | null; event: UsageEvent }
  | { op: 'usage'; event: UsageEvent }
  | { op: 'release'; reservation: string }
  | { op: 'redactions'; event: RedactionEvent }
  | { op: 'action'; action: EnforcementAction };

export interface SpoolRead {
  entries: SpoolEntry[];
  /** The last line had no newline: a write cut short, ignored. */
  torn: boolean;
  /** Whole lines that are not entries (1-based line numbers), skipped. */
  badLines: number[];
}

/** Where a host keeps the writes its store did not take: ~/.bot-bottle/ledger-spool/. */
export function spoolDir(env: NodeJS.ProcessEnv): string {
  return join(botBottleHome(env), 'ledger-spool');
}

/** A spool file's name for a writer (a launch's identity, or a command's name). */
export function spoolFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return `${safe === '' ? '_' : safe}.jsonl`;
}

export function spoolLine(e: SpoolEntry): string {
  return `${JSON.stringify(e)}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entry a parsed line holds, or undefined if it is not one. */
export function asEntry(v: unknown): SpoolEntry | undefined {
  if (!isObject(v)) return undefined;
  switch (v.op) {
    case 'settle':
      return isObject(v.event) &&
        typeof v.event.eventId === 'string' &&
        (v.reservation === null || typeof v.reservation === 'string')
        ? (v as SpoolEntry)
        : undefined;
    case 'usage':
      return isObject(v.event) && typeof v.event.eventId === 'string'
        ? (v as SpoolEntry)
        : undefined;
    case 'release':
      return typeof v.reservation === 'string' ? (v as SpoolEntry) : undefined;
    case 'redactions':
      return isObject(v.event) && isObject(v.event.counts) ? (v as SpoolEntry) : undefined;
    case 'action':
      return isObject(v.action) && typeof v.action.identity === 'string'
        ? (v as SpoolEntry)
        : undefined;
    default:
      return undefined;
  }
}

export function parseSpool(text: string): SpoolRead {
  const lines = text.split('\n');
  // After the last newline: empty for a whole file, else a torn write.
  const tail = lines.pop() ?? '';
  const entries: SpoolEntry[] = [];
  const badLines: number[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let entry: SpoolEntry | undefined;
    try {
      entry = asEntry(JSON.parse(line));
    } catch {
      entry = undefined;
    }
    if (entry === undefined) badLines.push(i + 1);
    else entries.push(entry);
  });
  return { entries, torn: tail !== '', badLines };
}

/** Spool text holding these entries (what is left after a partial flush). */
export function spoolText(entries: readonly SpoolEntry[]): string {
  return entries.map(spoolLine).join('');
}
